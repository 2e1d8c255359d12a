from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import date

from conftest import medication_fact
from mdrcds.facts import Fact
from mdrcds.knowledge.rulebook import Rulebook
from mdrcds.reasoning.engine import Engine, compile_pattern

MDR1 = "mdr1-inhibitor-with-immunotherapy"


def fact(source: str, value_set: str, member: str, current: bool = True, systemic: bool = True) -> Fact:
    status = "active" if current else "stopped"
    return medication_fact(
        source, value_set, member, status=status, current=current, start=date(2026, 1, 1), systemic=systemic
    )


def test_compile_pattern_uses_constant_tests_only() -> None:
    compiled = compile_pattern({"kind": "medication", "class": ["a", "b"], "value": {">=": 10, "<": 20}})
    assert compiled == {
        "$and": [
            {"$or": [{"class": "a"}, {"class": "b"}]},
            {"kind": "medication"},
            {"$and": [{"$lt": {"value": 20}}, {"$gte": {"value": 10}}]},
        ]
    }


def test_every_combination_matches(engine: Engine) -> None:
    facts = [
        fact("MedicationRequest/v", "pgp-inhibitor", "verapamil"),
        fact("MedicationRequest/a", "pgp-inhibitor", "amiodarone"),
        fact("MedicationRequest/p", "checkpoint-inhibitor", "pembrolizumab"),
    ]
    matches = [m for m in engine.run(facts) if m.rule_id == MDR1]
    assert [m.fact_ids()["inhibitor"] for m in matches] == [
        "MedicationRequest/a#pgp-inhibitor:amiodarone",
        "MedicationRequest/v#pgp-inhibitor:verapamil",
    ]


def test_constant_tests_exclude_facts(engine: Engine) -> None:
    facts = [
        fact("MedicationRequest/v", "pgp-inhibitor", "verapamil", current=False),
        fact("MedicationRequest/c", "pgp-inhibitor", "cyclosporine", systemic=False),
        fact("MedicationRequest/p", "checkpoint-inhibitor", "pembrolizumab"),
    ]
    assert engine.run(facts) == []


def test_no_residue_between_evaluations_and_deterministic_order(engine: Engine) -> None:
    inhibitor = fact("MedicationRequest/v", "pgp-inhibitor", "verapamil")
    ici = fact("MedicationRequest/p", "checkpoint-inhibitor", "pembrolizumab")
    # A half-filled join in one evaluation must not complete in the next.
    assert engine.run([ici]) == []
    assert engine.run([inhibitor]) == []
    first = engine.run([ici, inhibitor])
    assert first == engine.run([inhibitor, ici]) and len(first) == 1
    assert engine.sessions_abandoned == 0


def test_many_evaluations_stay_in_one_session(rulebook: Rulebook) -> None:
    engine = Engine(rulebook)
    for number in range(1500):  # more than the engine's 1,024 live sessions
        facts = [fact(f"MedicationRequest/p{number}", "checkpoint-inhibitor", "nivolumab")]
        if number % 2:
            facts.append(fact(f"MedicationRequest/v{number}", "pgp-inhibitor", "verapamil"))
        assert len(engine.run(facts)) == number % 2
    assert engine.sessions_abandoned == 0


def test_delete_state_with_a_partial_join_still_crashes_durable_rules() -> None:
    """The engine bug behind docs/decisions/0002: if this starts passing, a fixed durable-rules may
    allow going back to delete_state."""
    script = textwrap.dedent(
        """
        import copy, durable.engine as de
        class H(de.Host):
            def _run(self): pass
        rules = {"r": {"x": {"all": [{"a": {"t": "a"}}, {"b": {"t": "b"}}], "run": lambda c: None}}}
        host = H(); host.register_rulesets(copy.deepcopy(rules))
        host.assert_fact("r", {"id": "1", "t": "a", "sid": "s"})
        host.delete_state("r", "s")
        print("survived")
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "survived" not in result.stdout


def test_a_pattern_listing_several_kinds_accepts_each(engine: Engine) -> None:
    procedure = Fact(
        "Procedure/tx#solid-organ-transplant:kidney transplant (procedure)",
        "procedure",
        "solid-organ-transplant",
        "kidney transplant (procedure)",
        "Procedure/tx",
        "Transplant of kidney",
        "completed",
        True,
        "code",
    )
    ici = fact("MedicationRequest/n", "checkpoint-inhibitor", "nivolumab")
    rules = {m.rule_id for m in engine.run([procedure, ici])}
    assert "checkpoint-inhibitor-in-solid-organ-transplant" in rules
