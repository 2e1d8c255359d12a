"""Small calls are read and evaluated on the event loop while the engine thread is idle (decision 0014),
over real HTTP: the answers are the ones the engine thread gives, a call with many resources that can
become facts or one whose reading runs past its deadline goes to the engine thread, and while the
engine thread works no call is evaluated beside it."""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

import mdrcds.web.cdsservice
from mdrcds.reading.fhir import ReadingOverBudget, read_bytes
from mdrcds.settings import Settings
from mdrcds.web.app import create_app
from mdrcds.web.cdsservice import Service
from service_support import FIXED_NOW, SAMPLES, live_app

CASES = sorted(path.parent for path in SAMPLES.glob("*/request.json"))


@contextmanager
def serving(directory: Path, **options: Any) -> Iterator[tuple[str, Service]]:
    settings = Settings(
        auth="off",
        database_url=f"sqlite:///{directory / 'audit.sqlite3'}",
        spool_dir=directory / "spool",
        **options,
    )
    app = create_app(settings, clock=lambda: FIXED_NOW)
    with live_app(app) as url:
        yield url, app.state.service


@pytest.fixture(scope="module")
def on_loop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Service]]:
    with serving(tmp_path_factory.mktemp("loop")) as served:
        yield served


@pytest.fixture(scope="module")
def on_thread(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Service]]:
    with serving(tmp_path_factory.mktemp("thread"), loop_bytes=0) as served:
        yield served


def post(base: str, request: dict[str, Any] | bytes) -> httpx.Response:
    body = request if isinstance(request, bytes) else json.dumps(request).encode()
    service = "mdrcds-" + json.loads(body)["hook"]
    return httpx.post(
        f"{base}/cds-services/{service}",
        content=body,
        headers={"Content-Type": "application/json"},
        timeout=60,
    )


def evaluated_on_the_thread(service: Service, call: Any) -> tuple[httpx.Response, bool]:
    before = service.engine_thread.submitted
    response = call()
    return response, service.engine_thread.submitted > before


def test_every_golden_case_gets_the_engine_threads_answer_on_the_loop(
    on_loop: tuple[str, Service], on_thread: tuple[str, Service]
) -> None:
    (loop_url, loop_service), (thread_url, thread_service) = on_loop, on_thread
    where = {"loop": 0, "thread": 0}
    for case in CASES:
        body = (case / "request.json").read_bytes()
        answer, used_thread = evaluated_on_the_thread(loop_service, lambda b=body: post(loop_url, b))
        expected, thread_used = evaluated_on_the_thread(thread_service, lambda b=body: post(thread_url, b))
        assert thread_used, case.name
        assert (answer.status_code, answer.json()) == (expected.status_code, expected.json()), case.name
        where["thread" if used_thread else "loop"] += 1
    # Most golden cases are small; those with many facts (or a fallback fetch) go to the thread.
    assert where["loop"] > 50 and where["thread"] > 0, where


def many_orders(count: int) -> dict[str, Any]:
    """The MDR1 order-select case with `count` more active verapamil orders (each can become a fact)."""
    request: dict[str, Any] = json.loads(
        (SAMPLES / "mdr1-pembrolizumab-verapamil-order-select" / "request.json").read_text()
    )
    entries = request["prefetch"]["medicationRequests"]["entry"]
    for number in range(count):
        order = copy.deepcopy(entries[0])
        order["resource"]["id"] = f"verapamil-{number}"
        entries.append(order)
    return request


def test_a_call_with_more_fact_resources_than_the_loop_takes_is_evaluated_on_the_thread(
    on_loop: tuple[str, Service], on_thread: tuple[str, Service]
) -> None:
    (loop_url, loop_service), (thread_url, _) = on_loop, on_thread
    limit = loop_service.settings.loop_resources
    for count, thread_expected in ((limit - 3, False), (limit + 1, True)):
        request = many_orders(count)
        answer, used_thread = evaluated_on_the_thread(loop_service, lambda r=request: post(loop_url, r))
        assert used_thread is thread_expected, count
        expected = post(thread_url, request)
        assert answer.status_code == 200 and answer.json() == expected.json()
        assert answer.json()["cards"]


def test_reading_past_its_deadline_is_done_again_on_the_thread(
    on_loop: tuple[str, Service], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, service = on_loop
    request = many_orders(0)
    answer, used_thread = evaluated_on_the_thread(service, lambda: post(url, request))
    assert not used_thread
    monkeypatch.setattr(mdrcds.web.cdsservice, "LOOP_READ_SECONDS", -1.0)  # past at the first entry
    again, used_thread = evaluated_on_the_thread(service, lambda: post(url, request))
    assert used_thread
    assert again.status_code == 200 and again.json() == answer.json()


def test_while_the_engine_thread_works_a_small_call_waits_its_turn_there(
    on_loop: tuple[str, Service],
) -> None:
    """Ordering, not timing: with the engine thread held, a small call is not answered (it is not
    evaluated on the loop beside the thread's work) while /healthz is; released, it is answered."""
    url, service = on_loop
    gate = threading.Event()
    before = service.engine_thread.submitted
    # Held from this thread while no call is in flight (the loop submits nothing meanwhile).
    holder = threading.Thread(target=lambda: service.engine_thread.call(lambda: gate.wait(60)))
    holder.start()
    outcome: dict[str, httpx.Response] = {}
    caller = threading.Thread(target=lambda: outcome.update(response=post(url, many_orders(0))))
    try:
        while service.engine_thread.idle:
            threading.Event().wait(0.01)
        caller.start()
        # The call is queued behind the held work: submitted to the engine thread, not evaluated on
        # the loop (which would answer it without submitting anything).
        waited = 0
        while service.engine_thread.submitted < before + 2 and waited < 3000:
            threading.Event().wait(0.01)
            waited += 1
        assert service.engine_thread.submitted == before + 2, "the small call did not queue for the thread"
        with httpx.Client(base_url=url, timeout=30) as client:
            for _ in range(3):
                assert client.get("/healthz").status_code == 200
        assert "response" not in outcome, "a small call was answered while the engine thread worked"
    finally:
        gate.set()
        holder.join(timeout=60)
    caller.join(timeout=60)
    assert outcome["response"].status_code == 200 and outcome["response"].json()["cards"]
    assert service.engine_thread.idle


def test_reading_stops_at_its_deadline_and_forgets_it() -> None:
    body = json.dumps(many_orders(70)).encode()
    with pytest.raises(ReadingOverBudget):
        read_bytes(body, deadline=time.perf_counter() - 1)
    read = read_bytes(body, deadline=time.perf_counter() + 60)
    assert len(read.resources) > 70 and read.deadline is None
    no_prefetch = many_orders(0)
    del no_prefetch["prefetch"]  # its keys are fetched later, and read without the deadline
    assert read_bytes(json.dumps(no_prefetch).encode(), deadline=time.perf_counter() + 60).deadline is None
