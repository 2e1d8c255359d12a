from __future__ import annotations

from datetime import date

from conftest import medication_fact
from mdrcds.facts import Fact
from mdrcds.facts.derived import with_progression_context


def medication(source: str, value_set: str, member: str, start: date, status: str = "completed") -> Fact:
    return medication_fact(source, value_set, member, status=status, current=False, start=start)


def status(source: str, result: str, when: date) -> Fact:
    return Fact(
        f"{source}#cancer-disease-status:x",
        "observation",
        "cancer-disease-status",
        "x",
        source,
        "status",
        "final",
        True,
        "code",
        start=when,
        attributes={"result": result},
    )


def worsened_attributes(facts: list[Fact]) -> dict[str, object]:
    [fact] = [f for f in with_progression_context(facts) if f.attributes.get("result") == "worsened"]
    return dict(fact.attributes)


def test_improvement_before_the_first_checkpoint_inhibitor_does_not_make_it_acquired() -> None:
    facts = [
        status("Observation/i", "improved", date(2025, 12, 1)),
        medication("MedicationRequest/n", "checkpoint-inhibitor", "nivolumab", date(2026, 1, 1)),
        status("Observation/w", "worsened", date(2026, 6, 1)),
    ]
    attributes = worsened_attributes(facts)
    assert attributes["after_first_checkpoint_inhibitor"] is True
    assert attributes["resistance_pattern"] == "primary"


def test_cancelled_orders_are_not_exposures() -> None:
    facts = [
        medication("MedicationRequest/a", "pgp-substrate-chemotherapy", "paclitaxel", date(2025, 1, 1)),
        medication(
            "MedicationRequest/b",
            "pgp-substrate-chemotherapy",
            "docetaxel",
            date(2025, 6, 1),
            status="cancelled",
        ),
        status("Observation/w", "worsened", date(2026, 6, 1)),
    ]
    attributes = worsened_attributes(facts)
    assert (attributes["prior_pgp_substrates"], attributes["prior_pgp_substrate_names"]) == (1, "paclitaxel")
    assert attributes["after_first_checkpoint_inhibitor"] is False
