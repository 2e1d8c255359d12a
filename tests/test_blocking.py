"""The event loop never waits on a dependency: JWT claims of the wrong type, a JWK Set host that drips
bytes, an unknown `kid` that would force refetches, and a database that does not answer /healthz."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from mdrcds.settings import Settings, TrustedIssuer
from mdrcds.store.database import Store
from mdrcds.web import auth
from mdrcds.web.auth import Authenticator, AuthError, KeySets
from mdrcds.web.blocking import Pools
from service_support import jwks, live_service, make_keys, token

AUDIENCE = "https://cds.example/cds-services"


def always(issuer: str, jti: str, expires: datetime) -> bool:
    return True


@pytest.mark.parametrize("claim", ["iat", "exp", "nbf"])
@pytest.mark.parametrize("value", ["1700000000", [1], {"t": 1}, True])
def test_a_time_claim_of_the_wrong_type_is_refused_not_a_crash(
    tmp_path: Path, claim: str, value: Any
) -> None:
    keys = make_keys()
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(jwks(keys)))
    with httpx.Client() as http:
        authenticator = Authenticator(KeySets({"iss": TrustedIssuer(jwks_file=path)}, http), always)
        bad = token(keys["ES384"], "iss", AUDIENCE, **{claim: value})
        with pytest.raises(AuthError):
            authenticator.verify(f"Bearer {bad}", AUDIENCE)


class DrippingServer:
    """A loopback HTTP server that sends its response one byte every `pace` seconds, and counts requests."""

    def __init__(self, pace: float) -> None:
        self.pace = pace
        self.requests = 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.stopped = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/jwks.json"

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.requests += 1
            threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        with conn:
            conn.recv(4096)
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
            )
            try:
                while not self.stopped.is_set():
                    conn.sendall(b" ")
                    time.sleep(self.pace)
            except OSError:
                return

    def close(self) -> None:
        self.stopped.set()
        self.sock.close()


@pytest.fixture
def dripping() -> Iterator[DrippingServer]:
    server = DrippingServer(pace=0.05)
    yield server
    server.close()


def test_a_dripping_jwk_set_host_is_cut_at_the_deadline_and_not_refetched_per_call(
    dripping: DrippingServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(auth, "JKU_DEADLINE_SECONDS", 1.0)
    keys = make_keys()
    trusted = TrustedIssuer.model_construct(jku=dripping.url, jwks_file=None)
    with httpx.Client(timeout=httpx.Timeout(2.0)) as http:
        key_sets = KeySets({"iss": trusted}, http)
        authenticator = Authenticator(key_sets, always)
        forged = token(keys["ES384"], "iss", AUDIENCE, headers={"kid": "unknown-kid"})
        started = time.monotonic()
        with pytest.raises(AuthError):
            authenticator.verify(f"Bearer {forged}", AUDIENCE)
        assert time.monotonic() - started < 3.0  # the deadline, not the drip, ended the fetch
        for _ in range(20):  # unknown kids cannot force a refetch per call
            with pytest.raises(AuthError):
                authenticator.verify(f"Bearer {forged}", AUDIENCE)
        assert dripping.requests == 1


def test_a_hung_dependency_fills_only_its_own_pool() -> None:
    pools = Pools()
    release = threading.Event()

    async def scenario() -> tuple[float, float]:
        hung = [asyncio.ensure_future(pools.run(pools.database, release.wait)) for _ in range(20)]
        await asyncio.sleep(0.05)  # let every hung call reach the pool first
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            await pools.within(pools.database, 0.3, lambda: True)  # /healthz's ping waits at most this
        waited = time.monotonic() - started
        started = time.monotonic()
        assert await pools.run(pools.fhir, lambda: 42) == 42  # another dependency's pool still answers
        other = time.monotonic() - started
        release.set()
        await asyncio.gather(*hung)
        return waited, other

    try:
        waited, other = asyncio.run(scenario())
    finally:
        pools.close()
    assert waited < 1.0 and other < 0.5


def test_a_client_that_disconnects_mid_body_is_not_an_internal_error(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}", auth="off", spool_dir=tmp_path / "spool"
    )
    with live_service(settings) as base:
        host, port = base.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=5) as conn:
            conn.sendall(
                b"POST /cds-services/mdrcds-patient-view HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b'Content-Type: application/json\r\nContent-Length: 5000\r\n\r\n{"hook": '
            )
            time.sleep(0.3)
        store = Store(settings.database_url)
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not store.invocations():
                time.sleep(0.1)
            statuses = [call.status_code for call in store.invocations()]
        finally:
            store.dispose()
        assert statuses == [499]
        assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200
