"""The FHIR-server fallback against a misbehaving server on loopback: every bad answer is a
FhirServerError (the service answers 412), with a byte cap and an overall deadline."""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from mdrcds.reading.prefetch import FhirFetcher, FhirServerError
from mdrcds.settings import Settings
from mdrcds.web.cdsservice import FHIR_SERVER_UNUSABLE
from service_support import live_service, make_tls

CONTEXT = {"patientId": "p1"}
SEARCHSET = {"resourceType": "Bundle", "type": "searchset", "entry": []}


@contextmanager
def misbehaving(mode: str, tls_dir: Path | None = None) -> Iterator[tuple[str, ssl.SSLContext | None]]:
    """A FHIR server that answers every GET in one bad way; yields its base URL and a client TLS context."""
    state: dict[str, Any] = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            if mode == "drip":
                self.send_response(200)
                self.send_header("Content-Type", "application/fhir+json")
                self.send_header("Content-Length", "1000")
                self.end_headers()
                try:
                    for _ in range(1000):
                        self.wfile.write(b" ")
                        self.wfile.flush()
                        time.sleep(0.25)
                except OSError:
                    pass
                return
            if mode == "huge":
                size = 100 * 1024 * 1024
                self.send_response(200)
                self.send_header("Content-Type", "application/fhir+json")
                self.send_header("Content-Length", str(size))
                self.end_headers()
                chunk = b" " * (1024 * 1024)
                try:
                    for _ in range(100):
                        self.wfile.write(chunk)
                except OSError:
                    pass
                return
            body: bytes = {
                "garbage": b"<html>not json</html>",
                "array": b"[1, 2, 3]",
                "bad-link": json.dumps({**SEARCHSET, "link": 5}).encode(),
                "entry-object": json.dumps({**SEARCHSET, "entry": {}}).encode(),
                "next-url-not-string": json.dumps(
                    {**SEARCHSET, "link": [{"relation": "next", "url": 7}]}
                ).encode(),
                "scheme-switch": json.dumps(
                    {
                        **SEARCHSET,
                        "link": [
                            {"relation": "next", "url": state["base"].replace("https:", "http:") + "/x"}
                        ],
                    }
                ).encode(),
            }[mode]
            self.send_response(200)
            self.send_header("Content-Type", "application/fhir+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    client_tls = None
    scheme = "http"
    if tls_dir is not None:
        tls = make_tls(tls_dir)
        server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_context.load_cert_chain(str(tls.cert_file), str(tls.key_file))
        httpd.socket = server_context.wrap_socket(httpd.socket, server_side=True)
        client_tls = ssl.create_default_context(cafile=str(tls.ca_file))
        scheme = "https"
    state["base"] = f"{scheme}://127.0.0.1:{httpd.server_address[1]}/fhir"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state["base"], client_tls
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("garbage", "not JSON"),
        ("array", "not a FHIR resource"),
        ("bad-link", "malformed Bundle"),
        ("entry-object", "malformed Bundle"),
        ("next-url-not-string", "malformed next link"),
        ("huge", "too large"),
        ("drip", "too slow"),
    ],
)
def test_every_bad_answer_is_a_fhir_server_error(mode: str, message: str) -> None:
    with misbehaving(mode) as (base, _), httpx.Client(timeout=httpx.Timeout(5.0)) as http:
        fetcher = FhirFetcher(http, max_bytes=5 * 1024 * 1024, deadline_seconds=2.0)
        with pytest.raises(FhirServerError, match=message):
            fetcher.fetch("conditions", base, "token-1", CONTEXT)


def test_a_next_link_may_not_switch_scheme(tmp_path: Path) -> None:
    with misbehaving("scheme-switch", tmp_path) as (base, tls), httpx.Client(verify=tls or True) as http:
        fetcher = FhirFetcher(http)
        with pytest.raises(FhirServerError, match="leaves the FHIR server"):
            fetcher.fetch("conditions", base, "token-1", CONTEXT)


@pytest.mark.parametrize("mode", ["garbage", "array", "bad-link", "entry-object", "huge", "drip"])
def test_the_service_answers_412_for_a_bad_fhir_server(tmp_path: Path, mode: str) -> None:
    request = json.loads(
        (
            Path(__file__).resolve().parents[1] / "api" / "examples" / "mdrcds-patient-view.request.json"
        ).read_text()
    )
    del request["prefetch"]["conditions"]
    with misbehaving(mode) as (fhir_base, _):
        settings = Settings(
            database_url=f"sqlite:///{tmp_path / 'audit.sqlite3'}",
            auth="off",
            spool_dir=tmp_path / "spool",
            fhir_max_bytes=5 * 1024 * 1024,
            fhir_deadline_seconds=2.0,
            fhir_servers=[fhir_base],
        )
        with live_service(settings) as base:
            request["fhirServer"] = fhir_base
            response = httpx.post(f"{base}/cds-services/mdrcds-patient-view", json=request, timeout=30)
    assert response.status_code == 412, response.text
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    # One fixed answer whatever went wrong: the service is no oracle for what answered where.
    assert outcome["issue"][0]["diagnostics"] == FHIR_SERVER_UNUSABLE
