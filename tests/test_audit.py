"""Audit records survive a database outage: spooled, then replayed, none lost and none doubled."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mdrcds.store.audit import AuditLog
from mdrcds.store.database import Store
from mdrcds.store.records import FeedbackItem, InvocationRecord, IssuedCard
from service_support import wait_for


def record(number: int) -> InvocationRecord:
    return InvocationRecord(
        id=f"inv-{number}",
        received_at=datetime(2026, 11, 23, 9, 0, number % 60, tzinfo=UTC),
        service="mdrcds-patient-view",
        hook="patient-view",
        hook_instance=f"00000000-0000-4000-8000-{number:012d}",
        patient_id="p1",
        status_code=200,
        latency_ms=1.0,
        rulebook_version="v",
        cards=[IssuedCard(f"card-{number}", "rule-a", "info")],
    )


def test_records_are_spooled_while_the_database_is_unreachable_then_replayed(tmp_path: Path) -> None:
    # SQLite cannot open a file in a directory that does not exist: the database is "down"
    # until the directory is created.
    database_dir = tmp_path / "db"
    store = Store(f"sqlite:///{database_dir / 'audit.sqlite3'}")
    audit = AuditLog(store, tmp_path / "spool", retry_seconds=0.05)
    try:
        for number in range(5):
            audit.record(record(number))
        audit.record(
            FeedbackItem(
                "mdrcds-patient-view", "card-1", "overridden", record(1).received_at, user_comment="n/a"
            )
        )
        audit.flush()
        assert audit.spool_depth == 6
        assert audit.stored == 0

        database_dir.mkdir()
        wait_for(lambda: audit.spool_depth == 0)
        audit.record(record(5))
        audit.flush()
        assert [r.id for r in store.invocations()] == [f"inv-{n}" for n in range(6)]
        assert store.feedback_by_rule() == [("card-1", "rule-a", "overridden")]
        assert audit.replayed == 6
    finally:
        audit.close()
        store.dispose()


def test_a_spool_left_by_an_earlier_process_is_replayed_once(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / "audit.jsonl").write_bytes(record(1).to_json() + b"\n" + record(1).to_json() + b"\n")
    store = Store(f"sqlite:///{tmp_path / 'audit.sqlite3'}")
    audit = AuditLog(store, spool, retry_seconds=0.05)
    try:
        wait_for(lambda: audit.spool_depth == 0)
        assert [r.id for r in store.invocations()] == ["inv-1"]
    finally:
        audit.close()
        store.dispose()


def test_silent_findings_survive_the_spool_and_old_spool_lines_still_replay(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    silent = InvocationRecord(**{**record(2).__dict__, "silent_rule_ids": ["rule-s"]})
    # A line written before silent findings existed has no silent_rule_ids key at all.
    old = json.loads(record(1).to_json())
    del old["silent_rule_ids"]
    (spool / "audit.jsonl").write_bytes(json.dumps(old).encode() + b"\n" + silent.to_json() + b"\n")
    store = Store(f"sqlite:///{tmp_path / 'audit.sqlite3'}")
    store.migrate()
    audit = AuditLog(store, spool, retry_seconds=0.05)
    try:
        wait_for(lambda: audit.spool_depth == 0)
        assert [r.id for r in store.invocations()] == ["inv-1", "inv-2"]
        rows = store.governance(datetime(2026, 11, 23, tzinfo=UTC), datetime(2026, 11, 24, tzinfo=UTC))
        assert rows.silent == {"rule-s": 1} and rows.cards == {"rule-a": 2}
        assert audit.quarantined == 0
    finally:
        audit.close()
        store.dispose()


def test_a_full_disk_holds_records_in_memory_reports_degraded_and_recovers(tmp_path: Path) -> None:
    """The spool file is /dev/full: every write fails with ENOSPC, as on a full disk."""
    database_dir = tmp_path / "db"  # does not exist yet: the database is down
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / "audit.jsonl").symlink_to("/dev/full")
    store = Store(f"sqlite:///{database_dir / 'audit.sqlite3'}")
    audit = AuditLog(store, spool, retry_seconds=0.05)
    try:
        for number in range(20):
            audit.record(record(number))
        wait_for(lambda: audit.health()["heldInMemory"] == 20)
        health = audit.health()
        assert health["state"] == "degraded" and health["writerAlive"]
        assert "No space left on device" in str(health["lastError"])
        # The disk is freed (the spool becomes a real file) and the database returns: nothing lost.
        (spool / "audit.jsonl").unlink()
        database_dir.mkdir()
        wait_for(lambda: audit.health()["heldInMemory"] == 0 and audit.spool_depth == 0)
        assert audit.health()["state"] == "ok"
        assert sorted(r.id for r in store.invocations()) == sorted(f"inv-{n}" for n in range(20))
    finally:
        audit.close()
        store.dispose()


def test_a_read_only_spool_holds_records_and_keeps_the_writer_alive(tmp_path: Path) -> None:
    """A read-only file system (EROFS) under the spool: a tmpfs mounted read-only in a mount namespace
    (as root), or a directory without write permission (other users)."""
    script = tmp_path / "probe.py"
    script.write_text(READ_ONLY_PROBE)
    spool = tmp_path / "spool"
    spool.mkdir()
    database_dir = tmp_path / "db"
    if os.geteuid() == 0:
        inner = f'mount -t tmpfs -o ro,size=64k tmpfs "{spool}" && exec "{sys.executable}" "{script}" "{spool}" "{database_dir}"'
        command = ["unshare", "--mount", "sh", "-c", inner]
    else:
        spool.chmod(0o555)
        command = [sys.executable, str(script), str(spool), str(database_dir)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["state"] == "degraded" and result["writerAlive"] and result["heldInMemory"] == 5
    assert any(word in str(result["lastError"]) for word in ("Read-only file system", "Permission denied"))
    assert result["stored_after_recovery"] == 5, "held records reach the database when it returns"


READ_ONLY_PROBE = """
import json, sys, time
from datetime import UTC, datetime
from pathlib import Path
from mdrcds.store.audit import AuditLog
from mdrcds.store.records import InvocationRecord
from mdrcds.store.database import Store

spool, database_dir = Path(sys.argv[1]), Path(sys.argv[2])
store = Store(f"sqlite:///{database_dir / 'audit.sqlite3'}")  # the directory does not exist: down
audit = AuditLog(store, spool, retry_seconds=0.05)
for n in range(5):
    audit.record(InvocationRecord(f"inv-{n}", datetime.now(UTC), "s", "patient-view", "h", None, 200, 1.0, "v"))
deadline = time.monotonic() + 30
while audit.health()["heldInMemory"] < 5 and time.monotonic() < deadline:
    time.sleep(0.05)
health = audit.health()
database_dir.mkdir()  # the database returns
while audit.health()["heldInMemory"] and time.monotonic() < deadline + 30:
    time.sleep(0.05)
audit.close()
print(json.dumps({**health, "stored_after_recovery": len(store.invocations())}))
"""


def test_a_truncated_spool_line_is_quarantined_and_the_rest_replayed(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    cut = record(3).to_json()[:40]  # a write cut short by a crash
    (spool / "audit.jsonl").write_bytes(
        record(1).to_json() + b"\n" + cut + b"\n" + record(2).to_json() + b"\n"
    )
    store = Store(f"sqlite:///{tmp_path / 'audit.sqlite3'}")
    audit = AuditLog(store, spool, retry_seconds=0.05)
    try:
        wait_for(lambda: audit.spool_depth == 0)
        assert sorted(r.id for r in store.invocations()) == ["inv-1", "inv-2"]
        assert audit.health()["quarantined"] == 1
        assert (spool / "audit.quarantine.jsonl").read_bytes() == cut + b"\n"
    finally:
        audit.close()
        store.dispose()


def test_the_queue_is_bounded_and_overflow_is_counted_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / "audit.jsonl").symlink_to("/dev/full")  # nothing can be saved: records pile up
    store = Store(f"sqlite:///{tmp_path / 'missing' / 'x.sqlite3'}")
    audit = AuditLog(store, spool, retry_seconds=0.05, capacity=10)
    try:
        for number in range(25):
            audit.record(record(number))
        health = audit.health()
        assert health["overflowed"] == 15 and health["state"] == "degraded"
        assert any("audit queue full" in r.getMessage() for r in caplog.records)
    finally:
        audit.close()
        store.dispose()


def unsaved_at_shutdown(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        json.loads(r.record)["id"]  # type: ignore[attr-defined]
        for r in caplog.records
        if r.getMessage() == "audit record not saved at shutdown"
    ]


def test_at_shutdown_with_the_database_down_and_the_spool_full_every_record_goes_to_the_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The attack: SIGTERM while the database is down and the spool disk full lost 903 of 1,000 answered
    calls' records, none in the log. Now every one that could be neither stored nor spooled is logged."""
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / "audit.jsonl").symlink_to("/dev/full")
    store = Store(f"sqlite:///{tmp_path / 'missing' / 'audit.sqlite3'}")
    audit = AuditLog(store, spool, retry_seconds=0.05)
    caplog.set_level("ERROR", logger="mdrcds.audit")
    try:
        for number in range(1000):
            audit.record(record(number))
        audit.close()
    finally:
        store.dispose()
    assert sorted(unsaved_at_shutdown(caplog)) == sorted(f"inv-{n}" for n in range(1000))


def test_a_writer_stuck_in_the_database_at_shutdown_still_has_its_records_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(f"sqlite:///{tmp_path / 'audit.sqlite3'}")
    release = threading.Event()
    monkeypatch.setattr(store, "write_invocations", lambda records: release.wait(30))  # a hung database
    audit = AuditLog(store, tmp_path / "spool", retry_seconds=0.05)
    caplog.set_level("ERROR", logger="mdrcds.audit")
    try:
        for number in range(300):
            audit.record(record(number))
        time.sleep(0.2)  # the writer is now inside the hung write
        audit.close(timeout=1.0)
    finally:
        release.set()
        store.dispose()
    assert sorted(unsaved_at_shutdown(caplog)) == sorted(f"inv-{n}" for n in range(300))
