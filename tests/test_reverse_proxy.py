"""The production front in docs/deploy/nginx.conf, run as written (only its "site:" values replaced)
with Debian's nginx in front of a live mdrcds: calls pass through over TLS, and the proxy takes the slow
and oversized clients (dripped headers, stalled and oversized bodies, half-open connections)."""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from mdrcds.settings import Settings
from mdrcds.web.app import create_app
from mdrcds.web.connections import GuardedHttpToolsProtocol
from service_support import ROOT, free_port, live_app, make_tls

CONFIG = ROOT / "docs" / "deploy" / "nginx.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
REQUEST = (ROOT / "fhir_samples" / "mdr1-pembrolizumab-verapamil-order-select" / "request.json").read_bytes()
ATTACKER = "127.0.0.2"


@dataclass
class Proxied:
    url: str
    port: int
    tls: ssl.SSLContext


def site_config(upstream: int, port: int, cert: Path, key: Path, work: Path) -> str:
    """docs/deploy/nginx.conf with its site values for this test, and nothing else changed."""
    text = CONFIG.read_text()
    replacements = {
        "pid /run/mdrcds-nginx.pid;": f"pid {work / 'nginx.pid'};",
        "/var/lib/nginx/body": str(work / "body"),
        "/var/lib/nginx/proxy": str(work / "proxy"),
        "server 127.0.0.1:8080 max_conns=64;": f"server 127.0.0.1:{upstream} max_conns=64;",
        "listen 443 ssl;": f"listen 127.0.0.1:{port} ssl;",
        "server_name cds.example.org;": "server_name 127.0.0.1;",
        "/etc/ssl/mdrcds/fullchain.pem": str(cert),
        "/etc/ssl/mdrcds/privkey.pem": str(key),
    }
    for old, new in replacements.items():
        assert text.count(old) == 1, f"{old!r} is no longer in {CONFIG.name}: update this test's site values"
        text = text.replace(old, new)
    return text


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxied]:
    assert Path(NGINX).exists(), "nginx is needed (scripts/test installs Debian's nginx)"
    directory = tmp_path_factory.mktemp("proxy")
    tls = make_tls(directory)
    # nginx workers drop root to 'nobody': their temporary files live where 'nobody' may write
    work = Path(tempfile.mkdtemp(prefix="mdrcds-nginx-"))
    for sub in ("body", "proxy"):
        (work / sub).mkdir()
    os.chmod(work, 0o777)
    for sub in ("body", "proxy"):
        os.chmod(work / sub, 0o777)
    settings = Settings(
        auth="off",
        database_url=f"sqlite:///{directory / 'audit.sqlite3'}",
        spool_dir=directory / "spool",
        body_bytes_in_flight=256 * 1024,  # small: bodies must reach the service whole and fast
    )
    with live_app(create_app(settings), http=GuardedHttpToolsProtocol) as upstream_url:
        port = free_port()
        config = work / "nginx.conf"
        config.write_text(
            site_config(int(upstream_url.rsplit(":", 1)[1]), port, tls.cert_file, tls.key_file, work)
        )
        test = subprocess.run(
            [NGINX, "-t", "-p", str(work), "-c", str(config)], capture_output=True, text=True
        )
        assert test.returncode == 0, test.stderr
        process = subprocess.Popen(
            [NGINX, "-p", str(work), "-c", str(config), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        context = ssl.create_default_context(cafile=str(tls.ca_file))
        url = f"https://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    if httpx.get(f"{url}/healthz", verify=context, timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline and process.poll() is None, "nginx did not start"
                time.sleep(0.1)
            yield Proxied(url, port, context)
        finally:
            process.terminate()
            process.wait(timeout=20)
            shutil.rmtree(work, ignore_errors=True)


def call(proxied: Proxied, body: bytes = REQUEST) -> httpx.Response:
    return httpx.post(
        f"{proxied.url}/cds-services/mdrcds-order-select",
        content=body,
        headers={"Content-Type": "application/json"},
        verify=proxied.tls,
        timeout=30,
    )


def tls_socket(proxied: Proxied, source: str = "127.0.0.1") -> ssl.SSLSocket:
    raw = socket.create_connection(("127.0.0.1", proxied.port), timeout=10, source_address=(source, 0))
    return proxied.tls.wrap_socket(raw, server_hostname="127.0.0.1")


def healthz_seconds(proxied: Proxied) -> float:
    started = time.monotonic()
    assert httpx.get(f"{proxied.url}/healthz", verify=proxied.tls, timeout=5).status_code == 200
    return time.monotonic() - started


def test_a_call_passes_through_the_proxy(proxied: Proxied) -> None:
    response = call(proxied)
    assert response.status_code == 200
    assert [card["source"]["topic"]["code"] for card in response.json()["cards"]] == [
        "mdr1-inhibitor-with-immunotherapy"
    ]


def test_a_body_over_the_limit_is_refused_by_the_proxy(proxied: Proxied) -> None:
    response = call(proxied, b" " * (11 * 1024 * 1024))
    assert response.status_code == 413


def test_stalled_uploads_stay_at_the_proxy(proxied: Proxied) -> None:
    """25 uploads stalled after 10 KB would hold 250 KB of the service's 256 KiB body budget if they
    were streamed through, and a 20 KB call would be refused (503); buffered at the proxy, they hold
    none of it."""
    head = (
        b"POST /cds-services/mdrcds-order-select HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: 1000000\r\n\r\n"
    )
    held = [tls_socket(proxied, ATTACKER) for _ in range(25)]
    try:
        for sock in held:
            sock.sendall(head + b" " * 10_000)
        time.sleep(0.5)
        padded = REQUEST + b" " * (20_000 - len(REQUEST))
        assert call(proxied, padded).status_code == 200
    finally:
        for sock in held:
            sock.close()


def test_half_open_connections_and_dripped_headers_do_not_reach_the_service(proxied: Proxied) -> None:
    held = [
        socket.create_connection(("127.0.0.1", proxied.port), timeout=5, source_address=(ATTACKER, 0))
        for _ in range(300)
    ]
    try:
        for sock in held:
            sock.sendall(b"\x16\x03\x01")  # the first bytes of a TLS hello, then nothing
        assert healthz_seconds(proxied) < 1.0
        assert call(proxied).status_code == 200
    finally:
        for sock in held:
            sock.close()
    with tls_socket(proxied) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        started = time.monotonic()
        sock.settimeout(15)
        try:
            while sock.recv(4096):
                pass
        except (ConnectionResetError, ssl.SSLError):
            pass
        # client_header_timeout 10s: nginx drops the client that never finishes its headers
        assert 9 <= time.monotonic() - started < 13
