"""Hostile input over real HTTP: every node of the example requests deleted or replaced, and byte-level
garbage. Every answer is 200 or a 4xx with an OperationOutcome, the connection stays open, and every
call is audited. The same byte-level inputs through `mdrcds evaluate` give one error line, no traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from json_mutation import DELETE, paths, replaced
from mdrcds.settings import Settings
from mdrcds.store.database import Store
from service_support import live_service, wait_for

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "api" / "examples").glob("*.request.json"))
ALLOWED = {200, 400, 401, 404, 412, 413, 422}
REPLACEMENTS: list[Any] = [None, 0, -1, 1.5, True, False, "x", "", [], {}, 10**40, "\u0000"]
BYTE_CASES: dict[str, Callable[[bytes], bytes]] = {
    "invalid UTF-8 in a string": lambda raw: raw.replace(b'"Pembrolizumab', b'"Pembro\xff\xfelizumab', 1),
    "100,000-deep nesting": lambda raw: b"[" * 100_000 + b"]" * 100_000,
    "deep nesting inside a resource": lambda raw: raw.replace(
        b'"status": "active"', b'"status": "active", "x": ' + b"[" * 100_000 + b"]" * 100_000, 1
    ),
    "a number past double range": lambda raw: raw.replace(
        b'"status": "active"', b'"status": "active", "x": 1e400', 1
    ),
    "truncated": lambda raw: raw[: len(raw) // 2],
    "empty": lambda raw: b"",
    "not JSON": lambda raw: b"\x00\x01\x02 binary \xff",
    "a JSON array": lambda raw: b"[1, 2, 3]",
    "a lone surrogate": lambda raw: raw.replace(b'"Pembrolizumab', b'"Pembro\\ud800lizumab', 1),
}


def mutations(document: dict[str, Any]) -> Iterator[bytes]:
    """Each node deleted, and replaced by each odd value."""
    for path in paths(document):
        for value in [*REPLACEMENTS, DELETE]:
            yield json.dumps(replaced(document, path, value)).encode()


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    directory = tmp_path_factory.mktemp("fuzz")
    database = f"sqlite:///{directory / 'audit.sqlite3'}"
    settings = Settings(
        database_url=database, auth="off", spool_dir=directory / "spool", max_body_bytes=4_000_000
    )
    with live_service(settings) as base:
        yield base, database


def check(response: httpx.Response, what: str) -> None:
    assert response.status_code in ALLOWED, (what, response.status_code, response.text[:300])
    assert response.headers.get("connection", "").lower() != "close", what
    assert response.headers["x-content-type-options"] == "nosniff"
    if response.status_code != 200:
        outcome = response.json()
        assert outcome["resourceType"] == "OperationOutcome" and outcome["issue"], what
        assert "Traceback" not in response.text


def test_mutated_requests_never_get_a_500_and_are_all_audited(service: tuple[str, str]) -> None:
    base, database = service
    calls = 0
    statuses: dict[int, int] = {}
    with httpx.Client(base_url=base, timeout=30) as client:
        for example in EXAMPLES:
            document = json.loads(example.read_text())
            url = f"/cds-services/mdrcds-{document['hook']}"
            for body in mutations(document):
                response = client.post(url, content=body, headers={"Content-Type": "application/json"})
                check(response, body[:200].decode(errors="replace"))
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                calls += 1
        # After thousands of error answers the same connection still serves a valid call.
        valid = json.loads(EXAMPLES[0].read_text())
        assert client.post(f"/cds-services/mdrcds-{valid['hook']}", json=valid).status_code == 200
        calls += 1
    assert calls > 3000 and statuses.get(200, 0) > 0 and statuses.get(400, 0) > 0
    store = Store(database)
    try:
        wait_for(lambda: len(store.invocations()) == calls, timeout=60)
    finally:
        store.dispose()


@pytest.mark.parametrize("case", sorted(BYTE_CASES))
def test_byte_level_garbage_over_http(service: tuple[str, str], case: str) -> None:
    base, _ = service
    raw = (ROOT / "api" / "examples" / "mdrcds-order-select.request.json").read_bytes()
    body = BYTE_CASES[case](raw)
    with httpx.Client(base_url=base, timeout=60) as client:
        response = client.post("/cds-services/mdrcds-order-select", content=body)
        check(response, case)
        assert response.status_code in (400, 413, 422), case
        assert client.get("/healthz").status_code == 200  # the same connection still works


@pytest.mark.parametrize("case", sorted(BYTE_CASES))
def test_byte_level_garbage_through_the_cli(tmp_path: Path, case: str) -> None:
    raw = (ROOT / "api" / "examples" / "mdrcds-order-select.request.json").read_bytes()
    path = tmp_path / "request.json"
    path.write_bytes(BYTE_CASES[case](raw))
    done = subprocess.run(
        [sys.executable, "-m", "mdrcds", "evaluate", "--now", "2026-11-23", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mdrcds: error: "), done.stderr[-500:]
    assert "Traceback" not in done.stderr
