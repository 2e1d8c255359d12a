"""The service under load and odd data, over real HTTP: the event loop stays free during a large
evaluation, per-evaluation limits give 422, another patient's resources and unadvertised prefetch keys
never make a card."""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mdrcds.settings import Settings
from service_support import live_service

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "fhir_samples"


def sample(case: str) -> dict[str, Any]:
    request: dict[str, Any] = json.loads((SAMPLES / case / "request.json").read_text())
    return request


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    directory = tmp_path_factory.mktemp("hardening")
    settings = Settings(
        database_url=f"sqlite:///{directory / 'audit.sqlite3'}",
        auth="off",
        spool_dir=directory / "spool",
        max_body_bytes=20_000_000,
        max_resources=30_000,
    )
    with live_service(settings) as url:
        yield url


def large_request(orders: int) -> dict[str, Any]:
    """A patient-view request with `orders` active verapamil orders (each a fact)."""
    request = sample("mdr1-nivolumab-amiodarone-patient-view")
    template = request["prefetch"]["medicationRequests"]["entry"][0]["resource"]
    entries = []
    for number in range(orders):
        resource = copy.deepcopy(template)
        resource["id"] = f"order-{number}"
        entries.append({"resource": resource})
    request["prefetch"]["medicationRequests"]["entry"] = entries
    return request


def test_healthz_answers_while_a_large_evaluation_runs(base: str) -> None:
    """Ordering, not timing: /healthz returns before the large call does (the engine runs off the loop)."""
    body = json.dumps(large_request(25_000)).encode()
    finished = threading.Event()
    outcome: dict[str, Any] = {}

    def big_call() -> None:
        outcome["response"] = httpx.post(
            f"{base}/cds-services/mdrcds-patient-view", content=body, timeout=300
        )
        finished.set()

    thread = threading.Thread(target=big_call)
    thread.start()
    with httpx.Client(base_url=base, timeout=60) as client:
        answered_during = 0
        while not finished.is_set():
            response = client.get("/healthz")
            assert response.status_code == 200
            if not finished.is_set():
                answered_during += 1
            if answered_during >= 3:
                break
    assert answered_during >= 3, "healthz was not answered while the large evaluation ran"
    thread.join(timeout=300)
    assert outcome["response"].status_code in (200, 422)


def test_too_many_resources_is_a_422(base: str) -> None:
    response = httpx.post(f"{base}/cds-services/mdrcds-patient-view", json=large_request(31_000), timeout=300)
    assert response.status_code == 422
    assert "at most 30000" in response.json()["issue"][0]["diagnostics"]


def test_resources_of_another_patient_never_make_a_card(base: str) -> None:
    request = sample("mdr1-nivolumab-amiodarone-patient-view")
    assert httpx.post(f"{base}/cds-services/mdrcds-patient-view", json=request).json()["cards"]
    for entry in request["prefetch"]["medicationRequests"]["entry"]:
        entry["resource"]["subject"] = {"reference": "Patient/someone-else"}
    response = httpx.post(f"{base}/cds-services/mdrcds-patient-view", json=request)
    assert response.status_code == 200 and response.json()["cards"] == []
    # A Patient resource for another patient is dropped too (it would otherwise name the record).
    other = sample("mdr1-nivolumab-amiodarone-patient-view")
    other["prefetch"]["patient"]["id"] = "someone-else"
    assert httpx.post(f"{base}/cds-services/mdrcds-patient-view", json=other).status_code == 200


def test_unadvertised_prefetch_keys_are_ignored(base: str) -> None:
    request = sample("mdr1-nivolumab-amiodarone-patient-view")
    moved = request["prefetch"].pop("medicationRequests")
    request["prefetch"]["medicationRequests"] = {"resourceType": "Bundle", "type": "searchset", "entry": []}
    request["prefetch"]["somethingElse"] = moved
    response = httpx.post(f"{base}/cds-services/mdrcds-patient-view", json=request)
    assert response.status_code == 200 and response.json()["cards"] == []


def test_security_headers_on_every_kind_of_response(base: str) -> None:
    for response in (
        httpx.get(f"{base}/cds-services"),
        httpx.get(f"{base}/healthz"),
        httpx.post(f"{base}/cds-services/nope", json={}),
        httpx.post(f"{base}/cds-services/mdrcds-patient-view", content=b"not json"),
    ):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["cache-control"] == "no-store"


def test_mdrcds_serve_logs_only_json_lines(tmp_path: Path) -> None:
    """`mdrcds serve` as operators run it: its own lines and uvicorn's are JSON, with no traceback."""
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **os.environ,
        "MDRCDS_AUTH": "off",
        "MDRCDS_DATABASE_URL": f"sqlite:///{tmp_path / 'audit.sqlite3'}",
        "MDRCDS_SPOOL_DIR": str(tmp_path / "spool"),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "mdrcds", "serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{base}/healthz")
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "mdrcds serve did not start"
                time.sleep(0.1)
        httpx.post(f"{base}/cds-services/mdrcds-patient-view", content=b"\xff not json")
        httpx.post(
            f"{base}/cds-services/mdrcds-patient-view", json=sample("mdr1-nivolumab-amiodarone-patient-view")
        )
    finally:
        server.send_signal(signal.SIGTERM)
        out, err = server.communicate(timeout=60)
    lines = [line for line in (out + err).splitlines() if line.strip()]
    assert lines, "the server logged nothing"
    for line in lines:
        record = json.loads(line)  # every line is one JSON object
        assert {"time", "level", "logger", "message"} <= set(record), line
        assert "Traceback" not in line
    assert any(json.loads(line)["message"] == "serving CDS Hooks" for line in lines)
    # The call's log line names ids and counts, never the drugs it saw.
    assert not any("amiodarone" in line.lower() or "nivolumab" in line.lower() for line in lines)


def test_a_medication_record_naming_its_drug_twice_is_a_400(base: str) -> None:
    # Two medicationCodeableConcept members: a reader taking the first and one taking the last would
    # see different drugs, so the call is refused, naming where, rather than read either way.
    request = sample("mdr1-nivolumab-amiodarone-patient-view")
    body = json.dumps(request).encode()
    order = request["prefetch"]["medicationRequests"]["entry"][0]["resource"]
    concept = json.dumps(order["medicationCodeableConcept"]).encode()
    doubled = body.replace(
        b'"medicationCodeableConcept": ' + concept,
        b'"medicationCodeableConcept": {"text": "acetaminophen"}, "medicationCodeableConcept": ' + concept,
        1,
    )
    assert doubled != body
    response = httpx.post(
        f"{base}/cds-services/mdrcds-patient-view",
        content=doubled,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert "'medicationCodeableConcept' twice" in response.json()["issue"][0]["diagnostics"]
    assert httpx.post(f"{base}/cds-services/mdrcds-patient-view", json=request).json()["cards"]
