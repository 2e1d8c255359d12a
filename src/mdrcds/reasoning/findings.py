"""Findings: engine matches filtered by post-match predicates and the hook's focus, grouped per rule.

A finding is one rule that fired, with every match that made it fire. What the hook is about decides
which matches count: order-select cards concern the selected orders, order-sign cards the draft
orders, and patient-view everything current.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from mdrcds.facts import Fact
from mdrcds.knowledge.ruleschema import INDICATOR_RANK, Predicate, Rule


@dataclass(frozen=True)
class Match:
    """One combination of facts that satisfied a rule's patterns: alias -> fact id."""

    rule_id: str
    facts: tuple[tuple[str, str], ...]

    def fact_ids(self) -> dict[str, str]:
        """Alias -> fact id."""
        return dict(self.facts)


@dataclass(frozen=True)
class Focus:
    """The references a hook's cards must concern; None means everything (patient-view)."""

    references: frozenset[str] | None

    @classmethod
    def for_hook(cls, hook: str, selections: Iterable[str], draft_orders: Iterable[str]) -> Focus:
        """order-select: the selections; order-sign: the draft orders; patient-view: everything."""
        if hook == "order-select":
            return cls(frozenset(selections))
        if hook == "order-sign":
            return cls(frozenset(draft_orders))
        return cls(None)

    def concerns(self, facts: Iterable[Fact]) -> bool:
        """True when at least one of the facts comes from a resource in focus."""
        return self.references is None or any(f.source in self.references for f in facts)


@dataclass(frozen=True)
class Finding:
    """A rule that fired, with its matches (alias -> fact), in a stable order."""

    rule: Rule
    matches: tuple[Mapping[str, Fact], ...]

    def facts_of(self, alias: str) -> list[Fact]:
        """The distinct facts bound to `alias` across all matches, in order of first appearance."""
        seen: dict[str, Fact] = {}
        for match in self.matches:
            seen.setdefault(match[alias].id, match[alias])
        return list(seen.values())

    def fact_ids(self) -> list[str]:
        """Every fact id of every match, sorted, without repeats."""
        return sorted({fact.id for match in self.matches for fact in match.values()})


def build_findings(
    matches: Iterable[Match],
    facts: Mapping[str, Fact],
    rules: Iterable[Rule],
    hook: str,
    focus: Focus,
    include_research: bool = False,
) -> list[Finding]:
    """Group matches into findings for the rules that serve `hook`, most urgent first, then by rule id.

    Research-mode rules give findings only when `include_research` is set (researchers' tools do; the
    service does only when its setting says so). Retired rules give none; silent rules give findings
    like active ones (the caller decides that they make no card)."""
    by_rule: dict[str, list[Mapping[str, Fact]]] = {}
    for match in matches:
        bound = {alias: facts[fact_id] for alias, fact_id in match.facts}
        by_rule.setdefault(match.rule_id, []).append(bound)
    findings = []
    for rule in rules:
        if (
            hook not in rule.hooks
            or rule.status == "retired"
            or (rule.mode == "research" and not include_research)
        ):
            continue
        kept = [
            bound
            for bound in by_rule.get(rule.id, [])
            if _distinct_sources(rule, bound)
            and all(holds(p, bound, hook) for p in rule.when.where)
            and focus.concerns(bound.values())
        ]
        if kept:
            kept.sort(key=lambda bound: tuple(bound[alias].id for alias in rule.when.all))
            findings.append(Finding(rule, tuple(kept)))
    findings.sort(key=lambda f: (INDICATOR_RANK[f.rule.indicator], f.rule.id))
    return findings


def _distinct_sources(rule: Rule, bound: Mapping[str, Fact]) -> bool:
    # Two classes of one product (a fixed combination such as paclitaxel with encequidar) are not an
    # interaction between two medicines unless the rule says so.
    if rule.when.same_source_allowed:
        return True
    sources = [fact.source for fact in bound.values()]
    return len(sources) == len(set(sources))


def holds(predicate: Predicate, bound: Mapping[str, Fact], hook: str = "patient-view") -> bool:
    """Whether a post-match predicate holds for one match; unknown dates never satisfy a window."""
    treatment = predicate.at_treatment_start
    if treatment is not None:
        return hook not in treatment.hooks or bool(bound[treatment.alias].attributes.get("treatment_start"))
    window = predicate.starts_within or predicate.overlaps
    assert window is not None
    subject, anchor = bound[window.subject], bound[window.anchor].start
    if anchor is None:
        return False
    low, high = anchor - timedelta(days=window.days_before), anchor + timedelta(days=window.days_after)
    if predicate.starts_within is not None:
        return subject.start is not None and low <= subject.start <= high
    # overlaps: the subject's span [start, end] meets [low, high]; open ends as its status implies.
    start = subject.start or date.min
    end = subject.end or (date.max if subject.current else subject.start)
    return end is not None and start <= high and end >= low
