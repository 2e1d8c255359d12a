"""JSON log lines. Callers pass ids and codes only: never tokens, JWTs or clinical content.

Lines are written by a thread of their own (`BackgroundStreamHandler`): whoever reads the service's
stderr (journald, a container runtime, a pipe) can be slow or stop reading, and a full pipe must not
stop the event loop, which logs a line for every call.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import sys
import threading
import time
from datetime import UTC, datetime
from typing import TextIO

import orjson

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the record's `extra` fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info and record.exc_info[1] is not None:
            # The type and where it was raised, never the message or a traceback: messages can quote
            # input (a drug name, a token), and a traceback is many lines.
            error = record.exc_info[1]
            line["exception"] = type(error).__name__
            frame = _innermost(error)
            if frame:
                line["at"] = frame
        return orjson.dumps(line, default=str).decode()


def _innermost(error: BaseException) -> str | None:
    tb = error.__traceback__
    if tb is None:
        return None
    while tb.tb_next is not None:
        tb = tb.tb_next
    return f"{tb.tb_frame.f_code.co_filename.rsplit('/', 1)[-1]}:{tb.tb_lineno}"


LOG_LINES_WAITING = 10_000
"""Records that may wait for a slow log reader; past that, they are dropped and counted."""
GATHER_SECONDS = 0.02
"""How long the writer lets lines gather before writing them."""
WAIT_SECONDS = 2.0
"""How long `flush()` and `close()` wait for a stuck log reader (at exit, say) before giving up."""


class BackgroundStreamHandler(logging.Handler):
    """Writes each record to `stream` from a writer thread, so logging never waits for the reader of
    the stream, and formats it there too: the event loop logs a line per call, and making the line
    (time, JSON) on the writer, a batch at a time, keeps that work off the loop. The message is merged
    with its arguments where it is logged (as `logging.handlers.QueueHandler` does), so arguments
    changed afterwards do not change the line; `extra` values are read by the writer and should be
    values the caller does not change afterwards (ids, codes, counts, lists made for the call). At
    most `capacity` records wait: past that a record is dropped and counted, and once the reader
    catches up a warning line says how many were dropped.
    `flush()` waits (a bounded time) for the lines logged so far; `close()` writes what is left and
    stops the thread. A closed handler that is still used (logging.config closes the handlers it
    replaces, while a logger it does not configure may keep one) starts a new writer; only when no
    thread can start (the interpreter is exiting) does it write in the caller's thread."""

    def __init__(self, stream: TextIO | None = None, capacity: int = LOG_LINES_WAITING) -> None:
        super().__init__()
        self.stream = stream if stream is not None else sys.stderr
        self.dropped = 0
        self._dropped_lock = threading.Lock()
        self._lines: queue.Queue[logging.LogRecord | threading.Event | None] = queue.Queue(capacity)
        self._writer: threading.Thread | None = None
        self._writer_lock = threading.Lock()
        self._start_writer()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            record.msg = record.getMessage()
            record.args = None
        except Exception:
            self.handleError(record)
            return
        writer = self._writer
        if (writer is None or not writer.is_alive()) and not self._start_writer():
            self._write_records([record])
            return
        try:
            self._lines.put_nowait(record)
        except queue.Full:
            with self._dropped_lock:
                self.dropped += 1

    def flush(self, timeout: float = WAIT_SECONDS) -> None:
        """Wait until the lines logged so far are written (at most `timeout` seconds)."""
        writer = self._writer
        if writer is None or not writer.is_alive():
            return
        written = threading.Event()
        try:
            self._lines.put(written, timeout=timeout)
        except queue.Full:
            return
        written.wait(timeout)

    def close(self) -> None:
        writer = self._writer
        if writer is not None and writer.is_alive():
            with contextlib.suppress(queue.Full):
                self._lines.put(None, timeout=WAIT_SECONDS)
            writer.join(timeout=WAIT_SECONDS)
        if writer is None or not writer.is_alive():
            # Lines a racing emit queued behind the stop: written here rather than left in the queue.
            left = []
            while True:
                try:
                    item = self._lines.get_nowait()
                except queue.Empty:
                    break
                if isinstance(item, logging.LogRecord):
                    left.append(item)
            self._write_records(left)
        super().close()

    def _start_writer(self) -> bool:
        """Start the writer unless it runs; False when no thread can start (at interpreter exit)."""
        with self._writer_lock:
            if self._writer is not None and self._writer.is_alive():
                return True
            writer = threading.Thread(target=self._write, name="mdrcds-log", daemon=True)
            try:
                writer.start()
            except RuntimeError:
                return False
            self._writer = writer
            return True

    def _write_records(self, records: list[logging.LogRecord]) -> None:
        lines = []
        for record in records:
            try:
                lines.append(self.format(record))
            except Exception:
                self.handleError(record)
        self._write_lines(lines)

    def _write_lines(self, lines: list[str]) -> None:
        with self._dropped_lock:
            dropped, self.dropped = self.dropped, 0
        if dropped:
            lines = [*lines, self._dropped_line(dropped)]
        try:
            if lines:
                self.stream.write("\n".join(lines) + "\n")
            self.stream.flush()
        except (OSError, ValueError):
            pass  # a closed or broken stream: nowhere left to say so

    def _dropped_line(self, count: int) -> str:
        """The warning that `count` lines were dropped, as this handler formats every line."""
        record = logging.LogRecord(
            "mdrcds.log",
            logging.WARNING,
            __file__,
            0,
            "log lines dropped: the log's reader was too slow",
            None,
            None,
        )
        record.dropped = count
        try:
            return self.format(record)
        except Exception:  # a formatter that fails: the count still goes out
            return f"{record.getMessage()} ({count})"

    def _write(self) -> None:
        while True:
            item = self._lines.get()
            if isinstance(item, logging.LogRecord):
                # The lines of the next few milliseconds join this one: one wake-up and one write for
                # a batch, where a wake-up per line would cost every call a thread switch.
                time.sleep(GATHER_SECONDS)
            batch: list[logging.LogRecord] = []
            markers: list[threading.Event] = []
            stop = False
            while True:
                if item is None:
                    stop = True
                    break
                if isinstance(item, threading.Event):
                    markers.append(item)
                else:
                    batch.append(item)
                try:
                    item = self._lines.get_nowait()
                except queue.Empty:
                    break
            self._write_records(batch)
            for marker in markers:
                marker.set()
            if stop:
                return


LOG_CONFIG: dict[str, object] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "mdrcds.web.logs.JsonFormatter"}},
    "handlers": {
        "stderr": {
            "class": "mdrcds.web.logs.BackgroundStreamHandler",
            "formatter": "json",
            "stream": "ext://sys.stderr",
        }
    },
    "loggers": {
        name: {"handlers": ["stderr"], "level": level, "propagate": False}
        for name, level in (
            ("uvicorn", "WARNING"),
            ("uvicorn.error", "WARNING"),
            ("uvicorn.access", "WARNING"),
            ("mdrcds", "INFO"),
        )
    },
}
"""logging.config.dictConfig for `mdrcds serve`: uvicorn's own lines are JSON too."""


def configure_json_logging(level: int = logging.INFO) -> None:
    """Send the `mdrcds` loggers to stderr as JSON lines (idempotent)."""
    logger = logging.getLogger("mdrcds")
    if any(isinstance(h.formatter, JsonFormatter) for h in logger.handlers):
        return
    handler = BackgroundStreamHandler()
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
