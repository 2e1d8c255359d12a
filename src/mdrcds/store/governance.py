"""Governance figures per rule and period, from the audit and feedback tables (pure).

For a CDS committee: how often each rule's cards were shown, accepted and overridden, why they were
overridden, and, for a silent rule, how often it would have fired. `mdrcds.store.database.Store.governance`
reads the rows; this module only counts.

Definitions (also on the page): the override rate is overridden ÷ cards with feedback (a card the EHR
sent no feedback for is neither); the would-fire rate of a silent rule is the answered invocations in
which it would have fired ÷ the answered invocations of the hooks it serves.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from mdrcds.knowledge.rulebook import Rulebook
from mdrcds.store.database import GovernanceRows

TOP_REASONS = 5


@dataclass(frozen=True)
class Period:
    """A whole number of days, `start` inclusive to `end` exclusive (UTC)."""

    start: date
    end: date

    @classmethod
    def last_days(cls, days: int, today: date) -> Period:
        """The `days` days up to and including `today`."""
        return cls(today - timedelta(days=days - 1), today + timedelta(days=1))

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    def bucket_days(self) -> int:
        """Chart buckets: days for a month or less, weeks up to a half-year, else 30-day blocks."""
        return 1 if self.days <= 31 else 7 if self.days <= 183 else 30


@dataclass
class RuleFigures:
    """One rule's figures for the period."""

    rule_id: str
    title: str
    status: str
    indicator: str
    evidence: str = ""
    shown: int = 0
    accepted: int = 0
    overridden: int = 0
    would_fire: int = 0
    eligible: int = 0
    """answered invocations of the hooks the rule serves"""
    reasons: Counter[str] = field(default_factory=Counter)
    series: list[tuple[date, int, int]] = field(default_factory=list)
    """(bucket start, overridden, cards with feedback) per bucket, oldest first"""

    @property
    def with_feedback(self) -> int:
        return self.accepted + self.overridden

    @property
    def override_rate(self) -> float | None:
        """Overridden ÷ cards with feedback; None without feedback."""
        return self.overridden / self.with_feedback if self.with_feedback else None

    @property
    def would_fire_rate(self) -> float | None:
        """Invocations in which a silent rule would have fired ÷ eligible invocations."""
        return self.would_fire / self.eligible if self.eligible else None

    def top_reasons(self) -> list[tuple[str, int]]:
        return self.reasons.most_common(TOP_REASONS)


def figures(rows: GovernanceRows, rulebook: Rulebook, period: Period) -> list[RuleFigures]:
    """Every rule's figures, in catalogue order (category, id). Feedback on cards of rules no longer in
    the rulebook is left out (the rule id is shown nowhere else)."""
    table = {
        rule.id: RuleFigures(rule.id, rule.title, rule.status, rule.indicator, rule.evidence.grade)
        for rule in sorted(rulebook.rules, key=lambda r: (r.category, r.id))
    }
    for rule in rulebook.rules:
        entry = table[rule.id]
        entry.shown = rows.cards.get(rule.id, 0)
        entry.would_fire = rows.silent.get(rule.id, 0)
        entry.eligible = sum(rows.invocations.get(hook, 0) for hook in rule.hooks)
    step = period.bucket_days()
    buckets = [period.start + timedelta(days=d) for d in range(0, period.days, step)]
    counts: dict[str, dict[date, list[int]]] = {rule_id: {} for rule_id in table}
    for rule_id, when, outcome, code, display in rows.feedback:
        entry_or_none = table.get(rule_id)
        if entry_or_none is None:
            continue
        bucket = buckets[min(len(buckets) - 1, max(0, (_day(when) - period.start).days // step))]
        overridden, total = counts[rule_id].setdefault(bucket, [0, 0])
        if outcome == "overridden":
            entry_or_none.overridden += 1
            entry_or_none.reasons[display or code or "no reason given"] += 1
            counts[rule_id][bucket] = [overridden + 1, total + 1]
        else:
            entry_or_none.accepted += 1
            counts[rule_id][bucket] = [overridden, total + 1]
    for rule_id, entry in table.items():
        by_bucket = counts[rule_id]
        entry.series = [(b, by_bucket.get(b, [0, 0])[0], by_bucket.get(b, [0, 0])[1]) for b in buckets]
    return list(table.values())


def _day(when: datetime) -> date:
    return when.date()
