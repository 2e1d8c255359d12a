"""Connection limits over real sockets (mdrcds.web.connections, mdrcds.web.body): a header deadline, a
header size cap, per-process and per-client connection caps, a body deadline and a process-wide body
budget. /healthz keeps answering from another client address while an attacker holds connections."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mdrcds.settings import Settings
from mdrcds.web.app import create_app
from mdrcds.web.connections import ConnectionLimits, GuardedHttpToolsProtocol
from service_support import ROOT, free_port, live_app

ATTACKER = "127.0.0.2"  # another loopback address: the per-client cap counts it apart from the tests


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, int]]:
    GuardedHttpToolsProtocol.limits = ConnectionLimits(
        header_seconds=1.0, max_header_bytes=8 * 1024, max_connections=60, max_connections_per_client=20
    )
    settings = Settings(
        auth="off",
        database_url=f"sqlite:///{tmp_path / 'audit.sqlite3'}",
        spool_dir=tmp_path / "spool",
        body_seconds=1.0,
        body_bytes_in_flight=1024 * 1024,
    )
    try:
        with live_app(create_app(settings), http=GuardedHttpToolsProtocol) as url:
            yield url, int(url.rsplit(":", 1)[1])
    finally:
        GuardedHttpToolsProtocol.limits = None


def connect(port: int, source: str = "127.0.0.1") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0))
    return sock


def closed_within(sock: socket.socket, seconds: float) -> bool:
    """True when the server closes the connection (EOF or reset) within `seconds`."""
    sock.settimeout(seconds)
    try:
        while sock.recv(4096):
            pass
        return True
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def healthz_seconds(url: str) -> float:
    started = time.monotonic()
    assert httpx.get(f"{url}/healthz", timeout=5).status_code == 200
    return time.monotonic() - started


def test_a_client_dripping_its_headers_is_closed_at_the_deadline(server: tuple[str, int]) -> None:
    url, port = server
    with connect(port) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        started = time.monotonic()
        for _ in range(3):  # one header line every 0.3 s: never complete
            sock.sendall(b"X-Drip: 1\r\n")
            time.sleep(0.3)
        assert closed_within(sock, 3.0)
        assert 0.9 <= time.monotonic() - started < 3.0
    # the control: a request whose headers arrive in time is answered
    assert healthz_seconds(url) < 1.0


def test_a_second_request_on_a_kept_alive_connection_has_its_own_deadline(server: tuple[str, int]) -> None:
    _, port = server
    with connect(port) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        sock.settimeout(5)
        assert sock.recv(4096).startswith(b"HTTP/1.1 200")
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")  # the next request starts and stalls
        assert closed_within(sock, 3.0)


def test_oversized_headers_are_431(server: tuple[str, int]) -> None:
    url, _ = server
    response = httpx.get(f"{url}/healthz", headers={"X-Big": "a" * 10_000}, timeout=5)
    assert response.status_code == 431
    assert httpx.get(f"{url}/healthz", headers={"X-Small": "a" * 1_000}, timeout=5).status_code == 200


def test_half_open_connections_from_one_client_do_not_starve_others(server: tuple[str, int]) -> None:
    url, port = server
    held = [connect(port, ATTACKER) for _ in range(200)]
    try:
        for sock in held:
            sock.sendall(b"GET /healthz HTTP/1.1\r\n")
        # over the per-client cap the server closes at once; the first 20 wait for their deadline
        refused = sum(closed_within(sock, 0.05) for sock in held[40:])
        assert refused == len(held[40:])
        assert healthz_seconds(url) < 1.0  # another client is served meanwhile
        assert sum(closed_within(sock, 3.0) for sock in held[:20]) == 20  # and the held ones time out
    finally:
        for sock in held:
            sock.close()


def test_the_process_connection_cap_closes_new_connections(server: tuple[str, int]) -> None:
    url, port = server
    sources = [f"127.0.0.{n}" for n in range(10, 14)]  # 4 clients x 20 = 80 > the cap of 60
    held = [connect(port, source) for source in sources for _ in range(20)]
    try:
        time.sleep(0.2)
        closed = sum(closed_within(sock, 0.05) for sock in held)
        assert closed >= 80 - 60
    finally:
        for sock in held:
            sock.close()
    time.sleep(1.5)
    assert healthz_seconds(url) < 1.0  # the caps free up as connections go


def stalled_upload(port: int, declared: int, sent: int) -> socket.socket:
    sock = connect(port)
    head = (
        f"POST /cds-services/mdrcds-order-select HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/json\r\nContent-Length: {declared}\r\n\r\n"
    ).encode()
    sock.sendall(head + b" " * sent)
    return sock


def status_of(sock: socket.socket, seconds: float) -> int | None:
    sock.settimeout(seconds)
    try:
        data = sock.recv(4096)
    except (TimeoutError, ConnectionResetError):
        return None
    return int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1") else None


def test_a_stalled_body_is_408_at_the_body_deadline(server: tuple[str, int]) -> None:
    _, port = server
    sock = stalled_upload(port, 500_000, 100_000)
    try:
        assert status_of(sock, 4.0) == 408
    finally:
        sock.close()


def test_stalled_uploads_hold_at_most_the_body_budget(server: tuple[str, int]) -> None:
    url, port = server
    # 6 uploads of 400 KB each against a 1 MiB budget: two fit, the others are refused with 503
    uploads = [stalled_upload(port, 900_000, 400_000) for _ in range(6)]
    try:
        statuses = [status_of(sock, 4.0) for sock in uploads]
        assert statuses.count(503) >= 3, statuses
        assert set(statuses) <= {503, 408}, statuses
    finally:
        for sock in uploads:
            sock.close()
    # the budget is given back: a whole request is answered afterwards
    body = (ROOT / "fhir_samples" / "mdr1-pembrolizumab-verapamil-order-select" / "request.json").read_bytes()
    response = httpx.post(
        f"{url}/cds-services/mdrcds-order-select", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200


def test_mdrcds_serve_uses_the_guarded_protocol(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "MDRCDS_AUTH": "off",
        "MDRCDS_HEADER_SECONDS": "1",
        "MDRCDS_DATABASE_URL": f"sqlite:///{tmp_path / 'audit.sqlite3'}",
        "MDRCDS_SPOOL_DIR": str(tmp_path / "spool"),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "mdrcds", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline and process.poll() is None, "mdrcds serve did not start"
            time.sleep(0.2)
        with connect(port) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\n")
            started = time.monotonic()
            assert closed_within(sock, 4.0)
            assert time.monotonic() - started < 3.0
    finally:
        process.terminate()
        process.wait(timeout=30)
