"""The audit and feedback database (SQLite by default, PostgreSQL in production).

With `mdrcds.store.tables` (the table definitions), the only module that imports sqlmodel/SQLAlchemy.
Every failure to reach the database surfaces as
`StoreUnavailable`, so callers can spool instead (`mdrcds.store.audit`). Writes are idempotent: an
invocation, card, feedback item or token seen twice is stored once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, Table, delete, event, func
from sqlalchemy import select as sql_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, SQLModel, col, create_engine, select

from mdrcds.errors import MdrcdsError
from mdrcds.store.records import FeedbackItem, InvocationRecord
from mdrcds.store.tables import Card, Feedback, Invocation, PageSession, SeenToken, SilentFinding

__all__ = ["GovernanceRows", "Store", "StoreConfigurationError", "StoreUnavailable"]

MIGRATIONS = Path(__file__).parent / "migrations"


class StoreConfigurationError(MdrcdsError):
    """The database URL cannot be used on this install (its driver is missing)."""


class StoreUnavailable(MdrcdsError):
    """The database could not be reached or refused the write; the record was not stored."""


@dataclass(frozen=True)
class GovernanceRows:
    """What the governance page aggregates, for one period: counts by rule and hook, and the feedback
    items joined to their cards' rules."""

    cards: dict[str, int]
    """rule id -> cards issued"""
    silent: dict[str, int]
    """rule id -> invocations in which the silent rule would have fired"""
    invocations: dict[str, int]
    """hook -> answered invocations (status 200)"""
    feedback: list[tuple[str, datetime, str, str | None, str | None]]
    """(rule id, outcome time, outcome, override reason code, override reason display), oldest first"""


def _sqlite_write_ahead_log(connection: Any, _record: Any) -> None:
    """Each new SQLite connection writes ahead (WAL), syncing every commit as before (FULL).

    In its default rollback journal SQLite syncs twice per commit and a writer shuts readers out;
    with a write-ahead log a commit appends to one file and syncs once, and the governance page reads
    while the audit writer (of every worker) writes. FULL keeps a committed record through a power
    loss, as the rollback journal did. An in-memory database keeps its own journal (it cannot write
    ahead), which SQLite answers by ignoring the request."""
    cursor = connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
    finally:
        cursor.close()


def _table(model: type[SQLModel]) -> Table:
    table: Table = model.__table__  # type: ignore[attr-defined]
    return table


class Store:
    """Database access for the service. Thread-safe: one SQLAlchemy engine, a session per call."""

    def __init__(self, url: str) -> None:
        self.url = url
        connect_args: dict[str, Any] = {}
        if url.startswith("sqlite"):
            connect_args = {"check_same_thread": False, "timeout": 5}
        elif url.startswith("postgresql"):
            connect_args = {"connect_timeout": 2}
        try:
            self.engine: Engine = create_engine(url, connect_args=connect_args, pool_pre_ping=True)
        except ModuleNotFoundError as exc:
            raise StoreConfigurationError(
                f"the database URL needs the {exc.name} driver, which is not installed: for PostgreSQL "
                "install the postgres extra (pip install 'mdrcds[postgres]'; scripts/bootstrap installs it)"
            ) from None
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_write_ahead_log)
        self._tokens_purged: datetime | None = None

    def migrate(self) -> None:
        """Bring the schema to the newest alembic revision (idempotent)."""
        with self._failures("migrate"), self.engine.begin() as connection:
            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS))
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def revision(self) -> str | None:
        """The schema revision the database is at (None before the first migration)."""
        with self._failures("read the schema revision"), self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    @staticmethod
    def head_revision() -> str | None:
        """The newest revision shipped with this version of mdrcds."""
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        return ScriptDirectory.from_config(config).get_current_head()

    def write_invocation(self, record: InvocationRecord) -> None:
        """Store an invocation and its cards; a record already stored is left as it is."""
        self.write_invocations([record])

    def write_invocations(self, records: Sequence[InvocationRecord]) -> None:
        """Store invocations and their cards in one transaction; records already stored are left as
        they are (so a replay stores nothing twice)."""
        invocations = [
            {
                "id": record.id,
                "received_at": record.received_at,
                "service": record.service,
                "hook": record.hook,
                "hook_instance": record.hook_instance,
                "patient_id": record.patient_id,
                "status_code": record.status_code,
                "latency_ms": record.latency_ms,
                "rulebook_version": record.rulebook_version,
                "rule_ids": record.rule_ids,
                "card_uuids": [card.uuid for card in record.cards],
                "prefetch_used": record.prefetch_used,
                "prefetch_missing": record.prefetch_missing,
                "prefetch_fetched": record.prefetch_fetched,
            }
            for record in records
        ]
        cards = [
            {
                "uuid": card.uuid,
                "invocation_id": record.id,
                "rule_id": card.rule_id,
                "indicator": card.indicator,
                "issued_at": record.received_at,
            }
            for record in records
            for card in record.cards
        ]
        silent = [
            {"invocation_id": record.id, "rule_id": rule_id, "found_at": record.received_at}
            for record in records
            for rule_id in dict.fromkeys(record.silent_rule_ids)
        ]
        with self._failures("store the invocations"), self.engine.begin() as connection:
            # One statement per table, executed for many rows: compiled once and cached, unlike a
            # multi-row VALUES built anew for every batch.
            connection.execute(self._insert_ignoring(Invocation), invocations)
            if cards:
                connection.execute(self._insert_ignoring(Card), cards)
            if silent:
                connection.execute(self._insert_ignoring(SilentFinding), silent)

    def write_feedback(self, items: Sequence[FeedbackItem]) -> int:
        """Store feedback items; returns how many were new (a repeated item is stored once)."""
        rows = []
        for item in items:
            reason = item.override_reason or {}
            rows.append(
                {
                    "key": item.key,
                    "service": item.service,
                    "card_uuid": item.card,
                    "outcome": item.outcome,
                    "outcome_timestamp": item.outcome_timestamp,
                    "accepted_suggestions": item.accepted_suggestions,
                    "override_reason_system": reason.get("system"),
                    "override_reason_code": reason.get("code"),
                    "override_reason_display": reason.get("display"),
                    "user_comment": item.user_comment,
                }
            )
        with self._failures("store feedback"), Session(self.engine) as session:
            new = self._insert_ignore(session, Feedback, rows)
            session.commit()
            return new

    def card_services(self, uuids: Sequence[str]) -> dict[str, str]:
        """card uuid -> the service whose call issued it, for the uuids this deployment issued."""
        card, call = _table(Card).c, _table(Invocation).c
        query = (
            sql_select(card.uuid, call.service)
            .join_from(_table(Card), _table(Invocation), call.id == card.invocation_id)
            .where(card.uuid.in_(list(uuids)))
        )
        with self._failures("look up issued cards"), self.engine.connect() as connection:
            return {str(row[0]): str(row[1]) for row in connection.execute(query)}

    def claim_token(self, issuer: str, jti: str, expires_at: datetime, now: datetime) -> bool:
        """Record a token id; False when it was already used (a replay).

        Expired entries are purged at most once a minute (of `now`), not on every call.
        """
        key = hashlib.sha256(f"{issuer}\n{jti}".encode()).hexdigest()
        purge = self._tokens_purged is None or (now - self._tokens_purged).total_seconds() >= 60
        with self._failures("check the token id"), Session(self.engine) as session:
            if purge:
                session.execute(delete(SeenToken).where(col(SeenToken.expires_at) < now))
                self._tokens_purged = now
            new = self._insert_ignore(session, SeenToken, [{"key": key, "expires_at": expires_at}])
            session.commit()
            return new == 1

    def ping(self) -> None:
        """Raise StoreUnavailable unless the database answers."""
        with self._failures("reach the database"), self.engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")

    def invocations(self) -> list[Invocation]:
        """Every stored invocation, oldest first (for tests and reports)."""
        with self._failures("read invocations"), Session(self.engine) as session:
            return list(session.exec(select(Invocation).order_by(col(Invocation.received_at))))

    def feedback_by_rule(self) -> list[tuple[str, str | None, str]]:
        """(card uuid, rule id or None when the card is unknown, outcome) for every feedback item."""
        query = (
            select(Feedback.card_uuid, Card.rule_id, Feedback.outcome)
            .outerjoin(Card, col(Card.uuid) == col(Feedback.card_uuid))
            .order_by(col(Feedback.outcome_timestamp))
        )
        with self._failures("read feedback"), Session(self.engine) as session:
            return [(row[0], row[1], row[2]) for row in session.exec(query)]

    def governance(self, since: datetime, until: datetime) -> GovernanceRows:
        """Cards, silent findings, answered invocations and feedback from `since` up to `until`."""
        cards_table, feedback_table = _table(Card), _table(Feedback)
        card, item = cards_table.c, feedback_table.c
        silent, call = _table(SilentFinding).c, _table(Invocation).c
        queries = {
            "cards": sql_select(card.rule_id, func.count())
            .where(card.issued_at >= since, card.issued_at < until)
            .group_by(card.rule_id),
            "silent": sql_select(silent.rule_id, func.count())
            .where(silent.found_at >= since, silent.found_at < until)
            .group_by(silent.rule_id),
            "invocations": sql_select(call.hook, func.count())
            .where(call.received_at >= since, call.received_at < until, call.status_code == 200)
            .group_by(call.hook),
        }
        # Feedback counts only for a card this deployment issued, sent to the service that issued it,
        # and only its latest outcome (a card overridden three times and accepted once is one
        # acceptance); every item stays in the table as history.
        feedback = (
            sql_select(
                card.rule_id,
                item.outcome_timestamp,
                item.outcome,
                item.override_reason_code,
                item.override_reason_display,
                item.card_uuid,
            )
            .join_from(feedback_table, cards_table, card.uuid == item.card_uuid)
            .join(_table(Invocation), call.id == card.invocation_id)
            .where(
                item.outcome_timestamp >= since, item.outcome_timestamp < until, call.service == item.service
            )
            .order_by(item.outcome_timestamp, item.key)
        )
        with self._failures("read the governance figures"), self.engine.connect() as connection:
            counts = {
                name: {str(row[0]): int(row[1]) for row in connection.execute(query)}
                for name, query in queries.items()
            }
            latest = {
                str(r[5]): (str(r[0]), r[1], str(r[2]), r[3], r[4]) for r in connection.execute(feedback)
            }
            rows = sorted(latest.values(), key=lambda row: row[1])
        return GovernanceRows(counts["cards"], counts["silent"], counts["invocations"], rows)

    def open_session(self, key: str, issuer: str, subject: str, expires_at: datetime) -> None:
        """Store a pages session under `key` (a hash of the cookie value, never the value itself). One
        session per user: a new sign-in ends the user's earlier sessions (docs/pages.md)."""
        row = {"key": key, "issuer": issuer, "subject": subject, "expires_at": expires_at}
        with self._failures("open a session"), Session(self.engine) as session:
            session.execute(delete(PageSession).where(col(PageSession.expires_at) < datetime.now(UTC)))
            session.execute(
                delete(PageSession).where(
                    col(PageSession.issuer) == issuer, col(PageSession.subject) == subject
                )
            )
            self._insert_ignore(session, PageSession, [row])
            session.commit()

    def session_subject(self, key: str, now: datetime) -> tuple[str, str] | None:
        """(issuer, subject) of a live pages session, or None."""
        with self._failures("read a session"), Session(self.engine) as session:
            row = session.get(PageSession, key)
            if row is None or row.expires_at <= now:
                return None
            return row.issuer, row.subject

    def close_session(self, key: str) -> None:
        """End a pages session (sign out)."""
        with self._failures("close a session"), Session(self.engine) as session:
            session.execute(delete(PageSession).where(col(PageSession.key) == key))
            session.commit()

    def dispose(self) -> None:
        """Close pooled connections (e.g. before the database is stopped in a test)."""
        self.engine.dispose()

    def _insert_ignoring(self, model: type[SQLModel]) -> Any:
        """An INSERT of `model` rows that leaves rows already present as they are (for executemany)."""
        table = model.__table__  # type: ignore[attr-defined]
        dialect = self.engine.dialect.name
        if dialect == "postgresql":
            return postgresql.insert(table).on_conflict_do_nothing()
        if dialect == "sqlite":
            return sqlite.insert(table).on_conflict_do_nothing()
        raise StoreUnavailable(f"unsupported database dialect {dialect!r}")  # pragma: no cover

    def _insert_ignore(self, session: Session, model: type[SQLModel], rows: list[dict[str, Any]]) -> int:
        if not rows:
            return 0
        table = model.__table__  # type: ignore[attr-defined]
        dialect = self.engine.dialect.name
        if dialect == "postgresql":
            statement: Any = postgresql.insert(table).values(rows).on_conflict_do_nothing()
        elif dialect == "sqlite":
            statement = sqlite.insert(table).values(rows).on_conflict_do_nothing()
        else:  # pragma: no cover - only SQLite and PostgreSQL are supported
            raise StoreUnavailable(f"unsupported database dialect {dialect!r}")
        # RETURNING gives the rows actually inserted (rowcount is -1 for multi-row inserts on psycopg).
        primary_key = next(iter(table.primary_key.columns))
        return len(session.execute(statement.returning(primary_key)).all())

    @contextmanager
    def _failures(self, action: str) -> Iterator[None]:
        try:
            yield
        except SQLAlchemyError as exc:
            # The first line only: driver messages can quote SQL parameters, which hold ids.
            origin = getattr(exc, "orig", None)
            reason = (str(origin) if origin is not None else str(exc)).splitlines()[0]
            raise StoreUnavailable(f"could not {action}: {type(exc).__name__}: {reason}") from None
