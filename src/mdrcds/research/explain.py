"""Why a rule did or did not fire for one input, in clinical words (`mdrcds explain`, the card-review
page's "why / why not").

Built from the evaluation's own facts (the ones asserted into the rules engine) and the rule's own
patterns, tested field by field as the engine tests them; not a second implementation of the rule. For
each pattern of the rule: the facts that satisfy it, or the nearest miss (the fact of the pattern's
kind failing the fewest conditions) with each failed condition explained. Then the rule's post-match
tests (date windows, treatment start) and the hook's focus, when every pattern has a fact.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from mdrcds.cards.render import rule_of
from mdrcds.facts.model import Fact, Scalar
from mdrcds.knowledge.rulebook import Rulebook
from mdrcds.knowledge.ruleschema import Constraint, Pattern, Rule
from mdrcds.reasoning.findings import holds
from mdrcds.service import Evaluation

MAX_COMBINATIONS = 10_000
"""Matches examined for the post-match tests (the engine's own limit is the caller's)."""


@dataclass(frozen=True)
class Condition:
    """One test of a pattern on one fact."""

    field: str
    wanted: str
    got: str
    ok: bool
    reason: str
    """The failure in clinical words ('' when it holds)."""


@dataclass
class PatternReport:
    """What one pattern (alias) of the rule found."""

    alias: str
    wants: str
    matched: list[Fact] = field(default_factory=list)
    nearest: Fact | None = None
    failed: list[Condition] = field(default_factory=list)
    absent: str = ""
    """Why no fact of the pattern's class exists, when none does."""


@dataclass
class Explanation:
    """Why the rule fired or not."""

    rule: Rule
    fired: bool
    summary: str | None
    patterns: list[PatternReport]
    notes: list[str]

    def text(self) -> str:
        """The explanation as lines for a terminal or a page."""
        verdict = "FIRED" if self.fired else "DID NOT FIRE"
        lines = [f"{self.rule.id} ({self.rule.title}): {verdict}"]
        if self.summary:
            lines.append(f"  card: {self.summary}")
        for report in self.patterns:
            lines.append(f"  {report.alias}: {report.wants}")
            for fact in report.matched[:5]:
                lines.append(f"    matched: {fact.describe()}")
            if len(report.matched) > 5:
                lines.append(f"    ... and {len(report.matched) - 5} more")
            if not report.matched:
                if report.nearest is None:
                    lines.append(f"    no match: {report.absent}")
                else:
                    lines.append(f"    nearest miss: {report.nearest.describe()}")
                    lines += [f"      - {condition.reason}" for condition in report.failed]
        lines += [f"  {note}" for note in self.notes]
        return "\n".join(lines)


def explain(rule: Rule, evaluation: Evaluation, rulebook: Rulebook, now: date) -> Explanation:
    """Why `rule` did or did not fire in `evaluation` (made with research and silent rules included)."""
    facts = evaluation.facts.facts
    fired_cards = [card for card in evaluation.cards if rule_of(card) == rule.id]
    reports = [_pattern(alias, pattern, facts, rulebook, now) for alias, pattern in rule.when.all.items()]
    notes: list[str] = []
    if evaluation.withheld:
        notes.append(f"no rule was evaluated: {evaluation.withheld}")
    if evaluation.hook not in rule.hooks:
        notes.append(f"the rule runs on {', '.join(rule.hooks)}, not on {evaluation.hook}")
    if rule.id in evaluation.silent_rule_ids:
        notes.append("a silent rule: it matched here; silent rules are evaluated and audited, never shown")
    elif not fired_cards and all(report.matched for report in reports):
        notes += _after_patterns(rule, reports, evaluation.hook)
    return Explanation(
        rule, bool(fired_cards), str(fired_cards[0]["summary"]) if fired_cards else None, reports, notes
    )


def _pattern(alias: str, pattern: Pattern, facts: list[Fact], rulebook: Rulebook, now: date) -> PatternReport:
    report = PatternReport(alias, _wants(pattern, rulebook))
    scored: list[tuple[int, int, Fact, list[Condition]]] = []
    for index, fact in enumerate(facts):
        checks = [_check(name, constraint, fact, now) for name, constraint in pattern.items()]
        failed = [check for check in checks if not check.ok]
        if not failed:
            report.matched.append(fact)
        elif fact.kind == pattern.get("kind", fact.kind):
            # the nearest miss: same class first, then fewest failed conditions
            same_class = 0 if fact.value_set in _classes(pattern) else 1
            scored.append((same_class * 100 + len(failed), index, fact, failed))
    if not report.matched:
        best = min(scored, key=lambda s: (s[0], s[1]), default=None)
        if best is not None and best[0] < 100:  # a fact of the pattern's own class
            _, _, report.nearest, report.failed = best
        else:
            report.absent = _absent(pattern, facts, rulebook)
    return report


def _check(name: str, constraint: Constraint, fact: Fact, now: date) -> Condition:
    fields: dict[str, Scalar] = fact.engine_fields()
    value = fields.get(name)
    ok = _satisfies(value, constraint)
    wanted = _shown(constraint)
    got = "not recorded" if value is None else str(value)
    return Condition(name, wanted, got, ok, "" if ok else _reason(name, wanted, value, fact, now))


def _satisfies(value: Scalar | None, constraint: Constraint) -> bool:
    if value is None:
        return False
    if isinstance(constraint, list):
        return value in constraint
    if isinstance(constraint, dict):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        tests = {
            ">": lambda a, b: a > b,
            ">=": lambda a, b: a >= b,
            "<": lambda a, b: a < b,
            "<=": lambda a, b: a <= b,
            "!=": lambda a, b: a != b,
        }
        return all(tests[op](value, bound) for op, bound in constraint.items())
    return value == constraint


def _shown(constraint: Constraint) -> str:
    if isinstance(constraint, list):
        return " or ".join(map(str, constraint))
    if isinstance(constraint, dict):
        return " and ".join(f"{op} {bound}" for op, bound in constraint.items())
    return str(constraint)


def _reason(name: str, wanted: str, value: Scalar | None, fact: Fact, now: date) -> str:
    """A failed condition in clinical words."""
    label = (
        f"{fact.label} ({fact.member})"
        if fact.member and fact.member not in fact.label.lower()
        else fact.label
    )
    notes = {k: str(v) for k, v in fact.attributes.items() if k.endswith("_note")}
    if name == "class":
        return f"{label}: recognised as {fact.value_set}, not {wanted}"
    if name == "current":
        why = notes.get("exposure_note") or f"status {fact.status}"
        if fact.exposure_until:
            why += f"; counts as exposure until {fact.exposure_until.isoformat()}"
        return f"{label}: not current on {now.isoformat()} ({why})"
    if name == "systemic":
        return f"{label}: {notes.get('route_note', 'not systemic')}"
    if name == "draft":
        state = "a draft order" if fact.draft else "not a draft order"
        return f"{label}: {state}; the rule needs draft = {wanted}"
    if name == "status":
        return f"{label}: status {fact.status}, the rule needs {wanted}"
    if name == "loss_of_function":
        stated = value or "not stated"
        return f"{label}: loss of function is {stated}, the rule needs {wanted} (docs/clinical-safety.md)"
    if name == "pred_eq_mg_day":
        dose = value if value is not None else "no computable"
        return f"{label}: {dose} mg/day prednisone-equivalent, the rule needs {wanted}"
    if value is None:
        return f"{label}: {name.replace('_', ' ')} not recorded, the rule needs {wanted}"
    return f"{label}: {name.replace('_', ' ')} is {value}, the rule needs {wanted}"


def _classes(pattern: Pattern) -> list[str]:
    value = pattern.get("class")
    return [str(v) for v in value] if isinstance(value, list) else [str(value)] if value is not None else []


def _titles(pattern: Pattern, rulebook: Rulebook) -> str:
    sets = rulebook.terminology.value_sets
    return " or ".join(sets[name].title if name in sets else name for name in _classes(pattern))


def _wants(pattern: Pattern, rulebook: Rulebook) -> str:
    parts = [_titles(pattern, rulebook)] if _classes(pattern) else []
    parts += [
        f"{name} {_shown(constraint)}"
        for name, constraint in pattern.items()
        if name not in ("class", "kind")
    ]
    return "; ".join(parts)


def _absent(pattern: Pattern, facts: list[Fact], rulebook: Rulebook) -> str:
    kind = pattern.get("kind")
    title = _titles(pattern, rulebook)
    seen = sorted({f"{fact.label} ({fact.value_set})" for fact in facts if fact.kind == kind})
    found = (
        f"; {kind} records recognised: {', '.join(seen[:8])}"
        if seen
        else f"; no {kind} record was recognised"
    )
    return (
        f"no record in the data was recognised as {title} (by code or by name; a drug or diagnosis "
        f"missing from the value set, or not in the data sent){found}"
    )


def _after_patterns(rule: Rule, reports: list[PatternReport], hook: str) -> list[str]:
    """Every pattern has a fact, yet no card: which post-match test failed, or the hook's focus."""
    notes = []
    aliases = [report.alias for report in reports]
    combinations = itertools.islice(
        itertools.product(*(report.matched for report in reports)), MAX_COMBINATIONS
    )
    failing: dict[int, int] = {}
    any_passed = False
    for combination in combinations:
        bound = dict(zip(aliases, combination, strict=True))
        if len({fact.source for fact in bound.values()}) < len(bound) and not rule.when.same_source_allowed:
            continue
        results = [holds(predicate, bound, hook) for predicate in rule.when.where]
        if all(results):
            any_passed = True
        for index, result in enumerate(results):
            if not result:
                failing[index] = failing.get(index, 0) + 1
    for index, count in sorted(failing.items()):
        notes.append(f"post-match test not met ({count} combination(s)): {_predicate_words(rule, index)}")
    if any_passed:
        notes.append(
            f"every test holds for some combination, but on {hook} a card is shown only when the selected "
            "or draft order is part of the finding"
        )
    elif not failing:
        notes.append("the facts come from one resource, and the rule needs them from different records")
    return notes


def _predicate_words(rule: Rule, index: int) -> str:
    predicate = rule.when.where[index]
    data: dict[str, Any] = predicate.model_dump(exclude_none=True)
    kind, body = next(iter(data.items()))
    if kind == "at_treatment_start":
        return f"{body['alias']} must be a treatment start (first dose of its class, within 7 days of now)"
    before, after = body.get("days_before", 0), body.get("days_after", 0)
    verb = "start" if kind == "starts_within" else "overlap"
    subject, anchor = body["subject"], body["anchor"]
    return f"{subject} must {verb} from {before} days before to {after} days after {anchor} starts"
