"""Audit records that are never lost: database first, else an append-only spool, replayed later.

The request path only enqueues (`record`); one writer thread stores records in the database. While
the database is unreachable the writer appends each record as a JSON line to the spool file and
keeps trying; once the database answers again the spool is replayed (idempotently: the store ignores
records it already has) and then removed. Cards are therefore never delayed or withheld by the
database. `close()` drains the queue, so an orderly shutdown loses nothing either.

Faults never stop the writer:

- a spool that cannot be written (disk full, read-only, any OSError) keeps the record in memory and
  retries; `health()` reports the fault (the service's /healthz says "degraded");
- a spool line that cannot be read back (a write cut short by a crash) is moved to
  `audit.quarantine.jsonl` and counted; the other lines are replayed;
- the queue is bounded: past `capacity` records waiting (in the queue or held in memory), a new record
  is refused, counted and logged as an overflow, never silently dropped.
"""

from __future__ import annotations

import collections
import fcntl
import itertools
import logging
import os
import queue
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import orjson

from mdrcds.store.database import Store, StoreUnavailable
from mdrcds.store.records import FeedbackItem, InvocationRecord

Record = InvocationRecord | FeedbackItem
BATCH = 500
"""Records stored in one transaction (or appended with one fsync)."""
GATHER_SECONDS = 0.02
"""How long the writer waits for more records to join a batch (the records wait in memory meanwhile)."""
CLOSE_SECONDS = 20.0
"""How long `close()` waits for the writer before reporting what is left to the log itself."""
log = logging.getLogger("mdrcds.audit")


class AuditLog:
    """Durable, non-blocking audit: `record()` never raises and never waits for the database."""

    def __init__(
        self, store: Store, spool_dir: Path, retry_seconds: float = 1.0, capacity: int = 100_000
    ) -> None:
        self.store = store
        self.spool_dir = spool_dir
        self.spool_path = spool_dir / "audit.jsonl"
        self.quarantine_path = spool_dir / "audit.quarantine.jsonl"
        self.retry_seconds = retry_seconds
        self.capacity = capacity
        self.stored = 0
        self.spooled = 0
        self.replayed = 0
        self.overflowed = 0
        self.quarantined = 0
        self.write_errors = 0
        self.last_error: str | None = None
        self._held: collections.deque[Record] = collections.deque()  # records the spool could not take
        self._queue: queue.Queue[Record | _Marker | None] = queue.Queue()
        self._waiting = 0
        self._lock = threading.Lock()
        self._last_overflow_log = 0.0
        self._database_up = True
        self._closing = threading.Event()
        try:
            spool_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            self._fault("cannot create the spool directory", exc)
        self._thread = threading.Thread(target=self._run, name="mdrcds-audit", daemon=True)
        self._thread.start()

    def record(self, item: Record) -> None:
        """Queue a record for storage; never raises, never blocks. Past `capacity` records waiting,
        the record is refused and the overflow counted and logged."""
        with self._lock:
            if self._waiting + len(self._held) >= self.capacity:
                self.overflowed += 1
                overflow = True
            else:
                self._waiting += 1
                overflow = False
        if overflow:
            now = time.monotonic()
            if now - self._last_overflow_log >= 10:
                self._last_overflow_log = now
                log.error("audit queue full: records refused", extra={"overflowed": self.overflowed})
            return
        self._queue.put(item)

    def health(self) -> dict[str, Any]:
        """The writer's state for /healthz and /metrics: 'ok', or 'degraded' with the reason."""
        held = len(self._held)
        # Records wait in memory for a few milliseconds while a batch gathers: only a fault that keeps
        # them there (or any overflow, or a dead writer) is degraded.
        degraded = self.last_error is not None or self.overflowed > 0 or not self._thread.is_alive()
        return {
            "state": "degraded" if degraded else "ok",
            "waiting": self._waiting,
            "heldInMemory": held,
            "overflowed": self.overflowed,
            "quarantined": self.quarantined,
            "writeErrors": self.write_errors,
            "lastError": self.last_error,
            "writerAlive": self._thread.is_alive(),
        }

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until every queued record is in the database or the spool."""
        done = threading.Event()
        self._queue.put(_Marker(done))
        done.wait(timeout)

    def close(self, timeout: float | None = None) -> None:
        """Drain the queue, make one last attempt to store or spool, and stop the writer. Every record
        that could be neither stored nor spooled is written to the log, so none is lost silently: by the
        writer, or, when it is stuck in a dependency past `timeout` (CLOSE_SECONDS), by this call."""
        self._closing.set()
        self._queue.put(None)
        self._thread.join(timeout=CLOSE_SECONDS if timeout is None else timeout)
        if not self._thread.is_alive():
            return
        left: list[Record] = list(self._held)
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, InvocationRecord | FeedbackItem):
                left.append(item)
        log.error("audit writer still busy at shutdown; reporting what it holds", extra={"count": len(left)})
        _report(left)

    @property
    def spool_depth(self) -> int:
        """Records waiting in the spool for the database."""
        try:
            with self.spool_path.open("rb") as handle:
                return sum(1 for line in handle if line.strip())
        except OSError:
            return 0

    def _run(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=self.retry_seconds)
            except queue.Empty:
                self._safely(self._retry)
                continue
            # Take what else is already queued, so that one transaction (or one spool fsync) stores a
            # whole batch: one commit per record cannot keep up with a busy worker.
            control: _Marker | None = None
            stop = False
            if isinstance(item, InvocationRecord | FeedbackItem):
                # Under load the rest of a batch arrives meanwhile: one wake-up gathers it, where waiting
                # on the queue for each record cost a wake-up (and a lock handover) per call.
                self._closing.wait(GATHER_SECONDS)
            while True:
                if item is None:
                    stop = True
                    break
                if isinstance(item, _Marker):
                    control = item
                    break
                self._held.append(item)
                with self._lock:
                    self._waiting -= 1
                if len(self._held) >= BATCH and not self._closing.is_set():
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            self._safely(self._retry)
            if control is not None:
                control.done.set()
            if stop:
                self._report_unsaved()
                return

    def _report_unsaved(self) -> None:
        """At shutdown, records neither stored nor spooled are written to the log (ids and codes only),
        so that even then none is lost silently."""
        _report(list(self._held))
        self._held.clear()

    def _safely(self, step: Any) -> None:
        # The writer thread must outlive every fault: an unexpected error is reported, and the held
        # records stay held for the next try.
        try:
            step()
        except Exception as exc:
            self._fault("audit writer error", exc)

    def _retry(self) -> None:
        """Store or spool every held record, oldest first; stop at the first one that fails."""
        if not self._held:
            self._replay()
            return
        while self._held:
            batch = list(itertools.islice(self._held, BATCH))
            if not self._write(batch):
                if not self._closing.is_set():  # at shutdown, one attempt: what fails goes to the log
                    time.sleep(min(self.retry_seconds, 0.5))
                return
            for _ in batch:
                self._held.popleft()
        self.last_error = None

    def _write(self, batch: list[Record]) -> bool:
        """True when the records are in the database or in the spool."""
        if self._database_up or self._replay():
            try:
                self._store(batch)
                self.stored += len(batch)
                return True
            except StoreUnavailable as exc:
                self._went_down(exc)
        try:
            self._spool(batch)
        except OSError as exc:
            self._fault("cannot write the audit spool", exc)
            return False
        return True

    def _fault(self, what: str, exc: BaseException) -> None:
        self.write_errors += 1
        reason = (
            f"{what}: {exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__}"
        )
        if reason != self.last_error:
            log.error("audit fault; records are held in memory and retried", extra={"reason": reason})
        self.last_error = reason

    def _store(self, batch: list[Record]) -> None:
        invocations = [item for item in batch if isinstance(item, InvocationRecord)]
        feedback = [item for item in batch if isinstance(item, FeedbackItem)]
        if invocations:
            self.store.write_invocations(invocations)
        if feedback:
            self.store.write_feedback(feedback)

    def _went_down(self, exc: StoreUnavailable) -> None:
        if self._database_up:
            log.error("database unavailable; spooling audit records", extra={"reason": str(exc)})
        self._database_up = False

    def _spool(self, batch: list[Record]) -> None:
        with self._locked_spool("ab") as handle:
            handle.write(b"".join(item.to_json() + b"\n" for item in batch))
            handle.flush()
            os.fsync(handle.fileno())
        self.spooled += len(batch)

    def _replay(self) -> bool:
        """Move spooled records into the database; True when the database took them all."""
        if not self._spool_has_records():
            if not self._database_up:
                try:
                    self.store.ping()
                    self.store.migrate()  # a database that came back empty needs its tables
                except StoreUnavailable:
                    return False
                self._database_up = True
                log.warning("database available again")
            return True
        try:
            self.store.migrate()
            with self._locked_spool("r+b") as handle:
                lines = [line for line in handle.read().splitlines() if line.strip()]
                bad: list[bytes] = []
                for line in lines:
                    record = _parse(line)
                    if record is None:
                        bad.append(line)
                    elif isinstance(record, InvocationRecord):
                        self.store.write_invocations([record])
                    else:
                        self.store.write_feedback([record])
                if bad:
                    self._quarantine(bad)
                # Every line is stored (writes are idempotent, so a crash here only repeats work).
                # Truncate, never unlink: another process may hold the file open to append.
                handle.seek(0)
                handle.truncate()
        except StoreUnavailable as exc:
            self._went_down(exc)
            return False
        except OSError as exc:
            self._fault("cannot replay the audit spool", exc)
            return False
        self.replayed += len(lines)
        if not self._database_up:
            log.warning(
                "database available again; replayed spooled audit records", extra={"count": len(lines)}
            )
        self._database_up = True
        return True

    def _quarantine(self, lines: list[bytes]) -> None:
        """Keep unreadable spool lines for an operator (raises OSError, so the spool is kept too)."""
        with self.quarantine_path.open("ab") as handle:
            handle.write(b"".join(line + b"\n" for line in lines))
            handle.flush()
            os.fsync(handle.fileno())
        self.quarantined += len(lines)
        log.error("unreadable audit spool lines quarantined", extra={"count": len(lines)})

    def _spool_has_records(self) -> bool:
        try:
            return self.spool_path.stat().st_size > 0
        except FileNotFoundError:
            return False

    @contextmanager
    def _locked_spool(self, mode: str) -> Iterator[IO[Any]]:
        # An exclusive lock: several worker processes may share one spool directory.
        with self.spool_path.open(mode) as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield handle
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _report(records: list[Record]) -> None:
    for item in records:
        log.error("audit record not saved at shutdown", extra={"record": item.to_json().decode()})
    if records:
        log.error("audit records not saved at shutdown", extra={"count": len(records)})


def _parse(line: bytes) -> Record | None:
    """A spooled record, or None when the line is not one (cut short, or corrupted)."""
    try:
        data = orjson.loads(line)
        if data["type"] == "invocation":
            return InvocationRecord.from_dict(data)
        return FeedbackItem.from_dict(data)
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None


class _Marker:
    def __init__(self, done: threading.Event) -> None:
        self.done = done
