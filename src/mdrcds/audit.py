"""Audit records that are never lost: database first, else an append-only spool, replayed later.

The request path only enqueues (`record`); one writer thread stores records in the database. While
the database is unreachable the writer appends each record as a JSON line to the spool file and
keeps trying; once the database answers again the spool is replayed (idempotently: the store ignores
records it already has) and then removed. Cards are therefore never delayed or withheld by the
database. `close()` drains the queue, so an orderly shutdown loses nothing either.
"""

from __future__ import annotations

import fcntl
import logging
import os
import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import orjson

from mdrcds.records import FeedbackItem, InvocationRecord
from mdrcds.store import Store, StoreUnavailable

Record = InvocationRecord | FeedbackItem
log = logging.getLogger("mdrcds.audit")


class AuditLog:
    """Durable, non-blocking audit: `record()` never raises and never waits for the database."""

    def __init__(self, store: Store, spool_dir: Path, retry_seconds: float = 1.0) -> None:
        self.store = store
        self.spool_dir = spool_dir
        spool_dir.mkdir(parents=True, exist_ok=True)
        self.spool_path = spool_dir / "audit.jsonl"
        self.retry_seconds = retry_seconds
        self.stored = 0
        self.spooled = 0
        self.replayed = 0
        self._queue: queue.Queue[Record | _Marker | None] = queue.Queue()
        self._database_up = True
        self._thread = threading.Thread(target=self._run, name="mdrcds-audit", daemon=True)
        self._thread.start()

    def record(self, item: Record) -> None:
        """Queue a record for storage."""
        self._queue.put(item)

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until every queued record is in the database or the spool."""
        done = threading.Event()
        self._queue.put(_Marker(done))
        done.wait(timeout)

    def close(self) -> None:
        """Drain the queue, try a last replay, and stop the writer."""
        self._queue.put(None)
        self._thread.join(timeout=30)

    @property
    def spool_depth(self) -> int:
        """Records waiting in the spool for the database."""
        try:
            with self.spool_path.open("rb") as handle:
                return sum(1 for line in handle if line.strip())
        except FileNotFoundError:
            return 0

    def _run(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=self.retry_seconds)
            except queue.Empty:
                self._replay()
                continue
            if item is None:
                self._replay()
                return
            if isinstance(item, _Marker):
                item.done.set()
                continue
            self._write(item)

    def _write(self, item: Record) -> None:
        if self._database_up or self._replay():
            try:
                self._store(item)
                self.stored += 1
                return
            except StoreUnavailable as exc:
                self._went_down(exc)
        self._spool(item)

    def _store(self, item: Record) -> None:
        if isinstance(item, InvocationRecord):
            self.store.write_invocation(item)
        else:
            self.store.write_feedback([item])

    def _went_down(self, exc: StoreUnavailable) -> None:
        if self._database_up:
            log.error("database unavailable; spooling audit records", extra={"reason": str(exc)})
        self._database_up = False

    def _spool(self, item: Record) -> None:
        with self._locked_spool("ab") as handle:
            handle.write(item.to_json() + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        self.spooled += 1

    def _replay(self) -> bool:
        """Move spooled records into the database; True when the database took them all."""
        if not self._spool_has_records():
            if not self._database_up:
                try:
                    self.store.ping()
                except StoreUnavailable:
                    return False
                self._database_up = True
                log.warning("database available again")
            return True
        try:
            self.store.migrate()
            with self._locked_spool("r+b") as handle:
                lines = [line for line in handle.read().splitlines() if line.strip()]
                for line in lines:
                    data = orjson.loads(line)
                    if data["type"] == "invocation":
                        self.store.write_invocation(InvocationRecord.from_dict(data))
                    else:
                        self.store.write_feedback([FeedbackItem.from_dict(data)])
                # Every line is stored (writes are idempotent, so a crash here only repeats work).
                # Truncate, never unlink: another process may hold the file open to append.
                handle.seek(0)
                handle.truncate()
        except StoreUnavailable as exc:
            self._went_down(exc)
            return False
        self.replayed += len(lines)
        if not self._database_up:
            log.warning(
                "database available again; replayed spooled audit records", extra={"count": len(lines)}
            )
        self._database_up = True
        return True

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


class _Marker:
    def __init__(self, done: threading.Event) -> None:
        self.done = done
