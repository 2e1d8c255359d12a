"""The service's log lines are written by their own thread: a log reader that stops reading (a full
pipe to journald or a container runtime) never stops logging, and so never stops the event loop."""

from __future__ import annotations

import io
import json
import logging
import os
import threading
from pathlib import Path
from typing import Any, TextIO

import httpx

from mdrcds.settings import Settings
from mdrcds.web.logs import BackgroundStreamHandler, JsonFormatter
from service_support import SAMPLES, live_service


def json_logger(handler: logging.Handler, name: str) -> logging.Logger:
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger(name)
    logger.handlers = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger


class StuckPipe:
    """A text stream into a pipe that nobody reads yet, already full. `release()` starts reading it
    (into `received`); leaving the `with` block releases it too, so that a writer blocked on it by a
    failing test is freed rather than left hanging."""

    def __init__(self) -> None:
        read_end, write_end = os.pipe()
        os.set_blocking(write_end, False)
        try:
            while True:
                os.write(write_end, b"\n" * 65536)  # empty lines: the reader skips them
        except BlockingIOError:
            pass
        os.set_blocking(write_end, True)
        self.stream: TextIO = os.fdopen(write_end, "w")
        self.received = bytearray()
        self._read_end = read_end
        self._reader: threading.Thread | None = None

    def release(self) -> None:
        if self._reader is None:
            self._reader = threading.Thread(target=self._read, daemon=True)
            self._reader.start()

    def _read(self) -> None:
        while chunk := os.read(self._read_end, 65536):
            self.received.extend(chunk)

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.received.decode().splitlines() if line.startswith("{")]

    def __enter__(self) -> StuckPipe:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
        self.stream.close()
        assert self._reader is not None
        self._reader.join(timeout=30)
        os.close(self._read_end)


def log_calls(handler: BackgroundStreamHandler, name: str, count: int) -> None:
    logger = json_logger(handler, name)
    for number in range(count):
        logger.info("call", extra={"number": number})


def test_lines_are_written_whole_and_in_order() -> None:
    stream = io.StringIO()
    handler = BackgroundStreamHandler(stream)
    log_calls(handler, "mdrcds.test.order", 500)
    handler.flush()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["number"] for line in lines] == list(range(500))
    assert all(line["message"] == "call" for line in lines)
    handler.close()


def test_lines_are_made_by_the_writer_with_the_message_as_it_was_logged() -> None:
    """The JSON is made off the logging thread (the event loop logs a line per call); the message is
    merged with its arguments when logged, so an argument changed afterwards does not change it."""
    made_on: list[str] = []

    class Recording(JsonFormatter):
        def format(self, record: logging.LogRecord) -> str:
            made_on.append(threading.current_thread().name)
            return super().format(record)

    stream = io.StringIO()
    handler = BackgroundStreamHandler(stream)
    logger = json_logger(handler, "mdrcds.test.writer")
    handler.setFormatter(Recording())
    drugs = ["verapamil"]
    logger.info("fired for %s", drugs, extra={"count": 1})
    drugs.append("pembrolizumab")
    handler.flush()
    [line] = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert (line["message"], line["count"]) == ("fired for ['verapamil']", 1)
    assert made_on == ["mdrcds-log"]
    handler.close()


def test_a_reader_that_stops_reading_never_stops_logging_and_drops_are_counted() -> None:
    with StuckPipe() as pipe:
        handler = BackgroundStreamHandler(pipe.stream, capacity=100)
        logged = threading.Thread(target=log_calls, args=(handler, "mdrcds.test.stuck", 5000), daemon=True)
        logged.start()
        logged.join(timeout=30)  # a logger that waited on the pipe would still be waiting
        assert not logged.is_alive(), "logging waited for the log's reader"
        pipe.release()
        handler.flush()
        handler.close()
    records = pipe.records()
    calls = [r for r in records if r["message"] == "call"]
    notices = [r for r in records if r["logger"] == "mdrcds.log"]
    dropped = sum(r["dropped"] for r in notices)
    assert dropped > 0 and notices[0]["level"] == "warning"
    assert len(calls) + dropped == 5000  # every line written or counted, none lost silently
    numbers = [r["number"] for r in calls]
    assert numbers == sorted(numbers)


def test_close_writes_what_is_waiting() -> None:
    stream = io.StringIO()
    handler = BackgroundStreamHandler(stream)
    log_calls(handler, "mdrcds.test.close", 50)
    handler.close()
    assert len(stream.getvalue().splitlines()) == 50


def test_a_closed_handler_still_held_by_a_logger_goes_on_writing() -> None:
    # logging.config closes the handlers it replaces; a logger it does not configure keeps its own.
    stream = io.StringIO()
    handler = BackgroundStreamHandler(stream)
    handler.close()
    log_calls(handler, "mdrcds.test.reopened", 20)
    handler.flush()
    assert [json.loads(line)["number"] for line in stream.getvalue().splitlines()] == list(range(20))
    handler.close()


def service_log_handler() -> BackgroundStreamHandler:
    handlers = [h for h in logging.getLogger("mdrcds").handlers if isinstance(h, BackgroundStreamHandler)]
    assert handlers, "the service logs through a BackgroundStreamHandler"
    return handlers[0]


def test_the_service_answers_while_its_log_reader_is_stuck(tmp_path: Path) -> None:
    settings = Settings(
        auth="off", database_url=f"sqlite:///{tmp_path / 'audit.sqlite3'}", spool_dir=tmp_path / "spool"
    )
    request: dict[str, Any] = json.loads(
        (SAMPLES / "mdr1-pembrolizumab-verapamil-order-select" / "request.json").read_text()
    )
    with live_service(settings) as base, StuckPipe() as pipe:
        handler = service_log_handler()
        original = handler.stream
        handler.flush()
        handler.stream = pipe.stream
        try:
            for _ in range(3):  # each call logs a line; the first already finds the pipe full
                response = httpx.post(f"{base}/cds-services/mdrcds-order-select", json=request, timeout=30)
                assert response.status_code == 200
                assert response.json()["cards"]
        finally:
            pipe.release()
            handler.flush()
            handler.stream = original
    assert sum(1 for record in pipe.records() if record["message"] == "call") == 3
