"""Test doubles that are real servers: the mdrcds app under uvicorn, a FHIR server, a JWKS host.

Everything listens on 127.0.0.1 and is called over real sockets.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import ssl
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import uvicorn
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import FastAPI

from mdrcds.settings import Settings
from mdrcds.web.app import create_app

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "fhir_samples"
FIXED_NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def live_app(app: FastAPI, http: type[asyncio.Protocol] | None = None) -> Iterator[str]:
    """Serve an ASGI app with uvicorn on a loopback port (with `http` as its HTTP protocol class, as
    `mdrcds serve` passes it); yields its base URL."""
    sock = socket.socket()
    # Accepted connections inherit this; without it a response's header and body segments meet
    # the client's delayed ACK (~40 ms per call).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on", http=http or "auto")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the app did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


@contextmanager
def live_service(settings: Settings) -> Iterator[str]:
    """The mdrcds app with these settings, its clock fixed at FIXED_NOW."""
    with live_app(create_app(settings, clock=lambda: FIXED_NOW)) as url:
        yield url


# --- JWT signing keys and tokens -------------------------------------------------------------------


@dataclass
class SigningKey:
    kid: str
    alg: str
    private: Any

    def public_jwk(self) -> dict[str, Any]:
        algorithm = jwt.algorithms.get_default_algorithms()[self.alg]
        jwk: dict[str, Any] = json.loads(algorithm.to_jwk(self.private.public_key()))
        return {**jwk, "kid": self.kid, "alg": self.alg, "use": "sig"}


def make_keys() -> dict[str, SigningKey]:
    """One key per accepted algorithm."""
    return {
        "ES384": SigningKey("es384-1", "ES384", ec.generate_private_key(ec.SECP384R1())),
        "ES256": SigningKey("es256-1", "ES256", ec.generate_private_key(ec.SECP256R1())),
        "RS384": SigningKey(
            "rs384-1", "RS384", rsa.generate_private_key(public_exponent=65537, key_size=2048)
        ),
        "RS256": SigningKey(
            "rs256-1", "RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048)
        ),
    }


def jwks(keys: dict[str, SigningKey]) -> dict[str, Any]:
    return {"keys": [key.public_jwk() for key in keys.values()]}


def token(
    key: SigningKey,
    issuer: str,
    audience: str | list[str],
    *,
    lifetime: int = 300,
    now: float | None = None,
    headers: dict[str, Any] | None = None,
    **claims: Any,
) -> str:
    """A CDS client's JWT as the spec describes it (extra claims as keyword arguments)."""
    issued = int(now if now is not None else time.time())
    payload = {
        "iss": issuer,
        "sub": "ehr-client-1",
        "aud": audience,
        "exp": issued + lifetime,
        "iat": issued,
        "jti": str(uuid.uuid4()),
    }
    payload.update(claims)
    return jwt.encode(
        payload, key.private, algorithm=key.alg, headers={"kid": key.kid, "typ": "JWT", **(headers or {})}
    )


# --- a FHIR server and JWKS host on loopback ---------------------------------------------------------


@dataclass
class FakeFhirServer:
    """Answers `Type?patient=ID` searches and `Type/id` reads from `resources`, `page_size` per page.

    Records every request's path and Authorization header so tests can observe the service's fetches.
    """

    resources: list[dict[str, Any]] = field(default_factory=list)
    page_size: int = 2
    documents: dict[str, Any] = field(default_factory=dict)
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    fail_with: int | None = None
    base: str = ""

    def handle(self, path_and_query: str, authorization: str | None) -> tuple[int, Any]:
        self.requests.append((path_and_query, authorization))
        if self.fail_with:
            return self.fail_with, {"resourceType": "OperationOutcome", "issue": []}
        parts = urlsplit(path_and_query)
        path = parts.path.strip("/")
        if path in self.documents:
            return 200, self.documents[path]
        query = parse_qs(parts.query)
        segments = path.split("/")
        if len(segments) == 2:
            for resource in self.resources:
                if [resource["resourceType"], resource.get("id")] == segments:
                    return 200, resource
            return 404, {"resourceType": "OperationOutcome", "issue": []}
        resource_type = segments[-1]
        patient = query.get("patient", [""])[0]
        matches = [
            r
            for r in self.resources
            if r["resourceType"] == resource_type
            and r.get("subject", {}).get("reference") == f"Patient/{patient}"
        ]
        offset = int(query.get("_offset", ["0"])[0])
        page = matches[offset : offset + self.page_size]
        bundle: dict[str, Any] = {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": len(matches),
            "entry": [{"resource": r} for r in page],
        }
        if offset + self.page_size < len(matches):
            bundle["link"] = [
                {
                    "relation": "next",
                    "url": f"{self.base}/{resource_type}?patient={patient}&_offset={offset + self.page_size}",
                }
            ]
        return 200, bundle


@dataclass(frozen=True)
class Tls:
    """A throwaway certificate authority and a server certificate for 127.0.0.1 (PEM files)."""

    ca_file: Path
    cert_file: Path
    key_file: Path


def make_tls(directory: Path) -> Tls:
    """A CA and a 127.0.0.1 server certificate signed by it, valid for a day."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    def pem_key(key: Any) -> bytes:
        pem: bytes = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return pem

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mdrcds test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    tls = Tls(directory / "ca.pem", directory / "server.pem", directory / "server-key.pem")
    tls.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    tls.cert_file.write_bytes(server.public_bytes(serialization.Encoding.PEM))
    tls.key_file.write_bytes(pem_key(server_key))
    return tls


@contextmanager
def serve_fhir(server: FakeFhirServer, tls: Tls | None = None, port: int = 0) -> Iterator[str]:
    """Serve a FakeFhirServer on loopback (over https with `tls`), on `port` (any free one by default);
    yields its base URL (…/fhir)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path[len("/fhir") :] if self.path.startswith("/fhir") else self.path
            status, body = server.handle(path, self.headers.get("Authorization"))
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/fhir+json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    scheme = "http"
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(tls.cert_file), str(tls.key_file))
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
        scheme = "https"
    server.base = f"{scheme}://127.0.0.1:{httpd.server_address[1]}/fhir"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.base
    finally:
        httpd.shutdown()
        httpd.server_close()


# --- PostgreSQL ---------------------------------------------------------------------------------------


@dataclass
class Postgres:
    """A real PostgreSQL server started by scripts/postgres, which tests may stop and start."""

    url: str
    data_dir: str
    port: int

    def stop(self) -> None:
        subprocess.run([str(ROOT / "scripts" / "postgres"), "stop", self.data_dir], check=True)

    def start(self) -> None:
        subprocess.run(
            [str(ROOT / "scripts" / "postgres"), "start", self.data_dir, str(self.port)],
            check=True,
            capture_output=True,
        )


def running_postgres() -> Postgres | None:
    """The server `scripts/test` started (MDRCDS_TEST_POSTGRES_*), if any."""
    if not os.environ.get("MDRCDS_TEST_POSTGRES_URL"):
        return None
    return Postgres(
        os.environ["MDRCDS_TEST_POSTGRES_URL"],
        os.environ["MDRCDS_TEST_POSTGRES_DATA"],
        int(os.environ["MDRCDS_TEST_POSTGRES_PORT"]),
    )


def start_postgres(data_dir: str) -> Postgres:
    """Start a PostgreSQL server (as `nobody`) in `data_dir` on a free loopback port."""
    port = free_port()
    done = subprocess.run(
        [str(ROOT / "scripts" / "postgres"), "start", data_dir, str(port)], capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"scripts/postgres start failed: {done.stderr.strip()}")
    return Postgres(done.stdout.strip(), data_dir, port)


def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)
