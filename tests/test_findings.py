from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from conftest import medication_fact
from mdrcds.facts import Fact
from mdrcds.knowledge.rulebook import Rulebook
from mdrcds.knowledge.ruleschema import Predicate
from mdrcds.reasoning.findings import Focus, Match, build_findings, holds

MDR1 = "mdr1-inhibitor-with-immunotherapy"


def fact(source: str, value_set: str, member: str, start: date | None = None) -> Fact:
    return medication_fact(source, value_set, member, start=start)


def test_focus_per_hook() -> None:
    drafts, selections = ["MedicationRequest/d1", "MedicationRequest/d2"], ["MedicationRequest/d1"]
    assert Focus.for_hook("order-select", selections, drafts).references == frozenset(
        {"MedicationRequest/d1"}
    )
    assert Focus.for_hook("order-sign", selections, drafts).references == frozenset(drafts)
    assert Focus.for_hook("patient-view", selections, drafts).references is None


def findings_for(
    rulebook: Rulebook, facts: list[Fact], focus: Focus, hook: str = "order-select"
) -> list[str]:
    by_id = {f.id: f for f in facts}
    match = Match(MDR1, (("inhibitor", facts[0].id), ("immunotherapy", facts[1].id)))
    return [f.rule.id for f in build_findings([match], by_id, rulebook.rules, hook, focus)]


def test_order_select_keeps_only_matches_touching_a_selection(rulebook: Rulebook) -> None:
    facts = [
        fact("MedicationRequest/v", "pgp-inhibitor", "verapamil"),
        fact("MedicationRequest/p", "checkpoint-inhibitor", "nivolumab"),
    ]
    assert findings_for(rulebook, facts, Focus(frozenset({"MedicationRequest/p"}))) == [MDR1]
    assert findings_for(rulebook, facts, Focus(frozenset({"MedicationRequest/other"}))) == []


def test_one_product_in_two_classes_is_not_an_interaction(rulebook: Rulebook) -> None:
    same = [
        fact("MedicationRequest/x", "pgp-inhibitor", "a"),
        fact("MedicationRequest/x", "checkpoint-inhibitor", "b"),
    ]
    assert findings_for(rulebook, same, Focus(None), "patient-view") == []


def test_rule_not_serving_the_hook_is_dropped(rulebook: Rulebook) -> None:
    facts = [
        fact("MedicationRequest/v", "pgp-inhibitor", "verapamil"),
        fact("MedicationRequest/p", "checkpoint-inhibitor", "nivolumab"),
    ]
    assert findings_for(rulebook, facts, Focus(None), "encounter-start") == []


def test_starts_within_window() -> None:
    predicate = Predicate.model_validate(
        {"starts_within": {"subject": "abx", "anchor": "ici", "days_before": 30}}
    )
    ici = fact("MedicationRequest/i", "checkpoint-inhibitor", "nivolumab", start=date(2026, 6, 30))

    def bound(start: date | None) -> dict[str, Fact]:
        return {"abx": fact("MedicationRequest/a", "antibiotic", "x", start=start), "ici": ici}

    assert holds(predicate, bound(date(2026, 5, 31)))
    assert holds(predicate, bound(date(2026, 6, 30)))
    assert not holds(predicate, bound(date(2026, 5, 30)))
    assert not holds(predicate, bound(date(2026, 7, 1)))
    assert not holds(predicate, bound(None))


def test_overlaps_window() -> None:
    predicate = Predicate.model_validate(
        {"overlaps": {"subject": "steroid", "anchor": "ici", "days_before": 0, "days_after": 30}}
    )
    ici = fact("MedicationRequest/i", "checkpoint-inhibitor", "nivolumab", start=date(2026, 6, 1))

    def steroid(start: date | None, end: date | None, current: bool) -> dict[str, Fact]:
        base = fact("MedicationRequest/s", "systemic-corticosteroid", "prednisone", start=start)
        return {"steroid": replace(base, end=end, current=current), "ici": ici}

    assert holds(predicate, steroid(date(2026, 1, 1), None, True))  # still running at ICI start
    assert holds(predicate, steroid(date(2026, 6, 20), date(2026, 6, 25), False))  # within 30 days after
    assert not holds(predicate, steroid(date(2026, 1, 1), date(2026, 5, 31), False))  # ended before
    assert not holds(predicate, steroid(date(2026, 7, 2), None, True))  # started after the window
    assert holds(predicate, steroid(None, None, True))  # current, start unknown


def test_a_predicate_is_exactly_one_test() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        Predicate.model_validate({})
