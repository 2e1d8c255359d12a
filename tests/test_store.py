"""The audit store against SQLite and a real PostgreSQL server."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

from mdrcds.store.database import Store
from mdrcds.store.issued import IssuedCards
from mdrcds.store.records import FeedbackItem, InvocationRecord, IssuedCard

WHEN = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)


@pytest.fixture
def empty_store(database_url: str) -> Iterator[Store]:
    store = Store(database_url)
    yield store
    store.dispose()


@pytest.fixture
def store(empty_store: Store) -> Store:
    empty_store.migrate()
    return empty_store


def invocation(record_id: str, cards: list[IssuedCard]) -> InvocationRecord:
    return InvocationRecord(
        id=record_id,
        received_at=WHEN,
        service="mdrcds-order-select",
        hook="order-select",
        hook_instance="d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        patient_id="p1",
        status_code=200,
        latency_ms=3.2,
        rulebook_version="0.1.0+abc",
        cards=cards,
        prefetch_used=["patient"],
        prefetch_missing=[],
        prefetch_fetched=["conditions"],
    )


def test_migrations_are_idempotent_and_match_the_models(empty_store: Store) -> None:
    store = empty_store
    assert store.revision() is None
    store.migrate()
    store.migrate()
    assert store.revision() == Store.head_revision() == "0002"
    with store.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), SQLModel.metadata) == []


def test_invocations_and_cards_are_stored_once(store: Store) -> None:
    cards = [IssuedCard("card-1", "rule-a", "info"), IssuedCard("card-2", "rule-b", "warning")]
    store.write_invocation(invocation("inv-1", cards))
    store.write_invocation(invocation("inv-1", cards))  # a replay from the spool
    [stored] = store.invocations()
    assert (stored.id, stored.rule_ids, stored.card_uuids) == (
        "inv-1",
        ["rule-a", "rule-b"],
        ["card-1", "card-2"],
    )
    assert (stored.prefetch_used, stored.prefetch_fetched, stored.received_at) == (
        ["patient"],
        ["conditions"],
        WHEN,
    )


def test_feedback_is_stored_once_and_joins_to_the_rule(store: Store) -> None:
    store.write_invocation(invocation("inv-1", [IssuedCard("card-1", "rule-a", "info")]))
    accepted = FeedbackItem("mdrcds-order-select", "card-1", "accepted", WHEN, ["sugg-1"])
    unknown = FeedbackItem(
        "mdrcds-order-select",
        "card-9",
        "overridden",
        WHEN + timedelta(seconds=1),
        user_comment="not relevant",
    )
    assert store.write_feedback([accepted, unknown]) == 2
    assert store.write_feedback([accepted]) == 0
    assert store.feedback_by_rule() == [("card-1", "rule-a", "accepted"), ("card-9", None, "overridden")]


def test_issued_cards_come_from_memory_first_then_the_database(store: Store) -> None:
    """A card issued before a restart (only in the database) and one just issued (only in memory, its
    audit record still queued) are both known; a card of another service or never issued is not."""
    store.write_invocation(invocation("inv-1", [IssuedCard("card-old", "rule-a", "info")]))
    issued = IssuedCards(store, capacity=2)
    issued.remember(["card-new"], "mdrcds-order-select")
    select, sign = "mdrcds-order-select", "mdrcds-order-sign"
    assert issued.not_issued_by(["card-old", "card-new"], select) == []
    assert issued.not_issued_by(["card-old", "card-new", "card-9"], sign) == [
        "card-old",
        "card-new",
        "card-9",
    ]
    assert issued.not_issued_by(["card-9", "card-old"], select) == ["card-9"]
    # memory is bounded: the oldest remembered card falls back to the database (where it is not yet)
    issued.remember(["card-a", "card-b"], select)
    assert issued.not_issued_by(["card-new", "card-b"], select) == ["card-new"]


def test_token_ids_are_claimed_once_and_expire(store: Store) -> None:
    expires = WHEN + timedelta(minutes=5)
    assert store.claim_token("https://ehr.example", "jti-1", expires, WHEN)
    assert not store.claim_token("https://ehr.example", "jti-1", expires, WHEN)
    assert store.claim_token("https://other.example", "jti-1", expires, WHEN)
    # Once expired, the entry is purged; the token itself is refused by its exp anyway.
    assert store.claim_token("https://ehr.example", "jti-1", expires, expires + timedelta(seconds=1))


def test_a_postgresql_url_without_the_driver_says_which_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """The lean install has no PostgreSQL driver: the error says how to install it."""
    from mdrcds.store.database import StoreConfigurationError

    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(StoreConfigurationError, match=r"postgres extra \(pip install 'mdrcds\[postgres\]'"):
        Store("postgresql+psycopg://user@127.0.0.1:1/db")


def test_sqlite_writes_ahead_so_a_reader_does_not_hold_up_the_audit_writer(tmp_path: Path) -> None:
    """A file database writes ahead and syncs every commit (FULL, as durable as the rollback
    journal). The audit writer commits while a reader (the governance page, another worker) is in the
    middle of a read; with the rollback journal the commit would wait for the reader (the 5 s busy
    timeout, then StoreUnavailable), and records would pile up in memory meanwhile."""
    url = f"sqlite:///{tmp_path / 'audit.sqlite3'}"
    writer, reader = Store(url), Store(url)
    try:
        writer.migrate()
        writer.write_invocation(invocation("inv-1", [IssuedCard("card-1", "rule-a", "info")]))
        with writer.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        with reader.engine.connect() as reading:
            reading.exec_driver_sql("BEGIN")
            assert reading.exec_driver_sql("SELECT count(*) FROM invocation").scalar() == 1
            writer.write_invocation(invocation("inv-2", [IssuedCard("card-2", "rule-a", "info")]))
            # The reader goes on with the snapshot it began with.
            assert reading.exec_driver_sql("SELECT count(*) FROM invocation").scalar() == 1
            reading.exec_driver_sql("COMMIT")
        assert reader.card_services(["card-1", "card-2"]) == {
            "card-1": "mdrcds-order-select",
            "card-2": "mdrcds-order-select",
        }
    finally:
        writer.dispose()
        reader.dispose()
