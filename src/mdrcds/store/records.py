"""What the service keeps: invocation audit records and feedback items, as plain data.

Both are written to the database by `mdrcds.store.database`, or to the spool (`mdrcds.store.audit`) while the
database is unreachable, so each has a JSON form that round-trips exactly.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import orjson


@dataclass(frozen=True)
class IssuedCard:
    """A card returned to a client: its uuid joins feedback back to the rule."""

    uuid: str
    rule_id: str
    indicator: str


@dataclass(frozen=True)
class InvocationRecord:
    """One call of a CDS service. Ids and codes only: no clinical content beyond the patient id."""

    id: str
    received_at: datetime
    service: str
    hook: str
    hook_instance: str
    patient_id: str | None
    status_code: int
    latency_ms: float
    rulebook_version: str
    cards: list[IssuedCard] = field(default_factory=list)
    prefetch_used: list[str] = field(default_factory=list)
    prefetch_missing: list[str] = field(default_factory=list)
    prefetch_fetched: list[str] = field(default_factory=list)
    silent_rule_ids: list[str] = field(default_factory=list)
    """Silent rules that would have fired: audited, never returned (see the governance page)."""

    @property
    def rule_ids(self) -> list[str]:
        """The rules that fired, once each, in card order."""
        return list(dict.fromkeys(card.rule_id for card in self.cards))

    def to_json(self) -> bytes:
        return orjson.dumps({"type": "invocation", **asdict(self)})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InvocationRecord:
        data = {k: v for k, v in data.items() if k != "type"}
        data["received_at"] = datetime.fromisoformat(data["received_at"])
        data["cards"] = [IssuedCard(**card) for card in data["cards"]]
        return cls(**data)


@dataclass(frozen=True)
class FeedbackItem:
    """One validated feedback item (CDS Hooks 2.0 §Feedback) for one service."""

    service: str
    card: str
    outcome: str
    outcome_timestamp: datetime
    accepted_suggestions: list[str] = field(default_factory=list)
    override_reason: dict[str, str] | None = None
    user_comment: str | None = None

    @property
    def key(self) -> str:
        """Identity of the item: the same item posted twice is stored once."""
        payload = asdict(self)
        payload["outcome_timestamp"] = self.outcome_timestamp.isoformat()
        return hashlib.sha256(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)).hexdigest()

    def to_json(self) -> bytes:
        return orjson.dumps({"type": "feedback", **asdict(self)})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeedbackItem:
        data = {k: v for k, v in data.items() if k != "type"}
        data["outcome_timestamp"] = datetime.fromisoformat(data["outcome_timestamp"])
        return cls(**data)
