"""Audit records survive a database outage: spooled, then replayed, none lost and none doubled."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from mdrcds.audit import AuditLog
from mdrcds.records import FeedbackItem, InvocationRecord, IssuedCard
from mdrcds.store import Store
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
