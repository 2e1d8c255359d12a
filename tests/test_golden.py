"""The golden suite: every fhir_samples/<case>/ with request.json and expected.json."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from conftest import SAMPLES
from golden_builder import rendered
from golden_cases import build
from mdrcds.knowledge.rulebook import Rulebook
from mdrcds.reasoning.engine import Engine
from mdrcds.service import evaluate

CASES = sorted(p.parent for p in SAMPLES.glob("*/expected.json"))


def test_there_are_golden_cases() -> None:
    assert len(CASES) >= 50


def test_case_files_match_their_source() -> None:
    """fhir_samples/ is written by tests/golden_cases.py; regenerate it rather than editing by hand."""
    build()
    expected = rendered()
    assert sorted(expected) == [case.name for case in CASES]
    for name, files in expected.items():
        for filename, text in files.items():
            assert (SAMPLES / name / filename).read_text(encoding="utf-8") == text, (
                f"{name}/{filename} is stale"
            )


def test_every_rule_has_positive_cases_for_each_hook_and_a_negative(rulebook: Rulebook) -> None:
    cases = build()
    fired: set[tuple[str, str]] = set()
    negative: set[str] = set()
    for request, expected, _ in cases.values():
        fired.update((want["rule"], request["hook"]) for want in expected["cards"])
        if "negative_for" in expected:
            negative.add(expected["negative_for"])
    for rule in rulebook.rules:
        missing = [hook for hook in rule.hooks if (rule.id, hook) not in fired]
        assert not missing, f"{rule.id} has no positive golden case for {missing}"
        assert rule.id in negative, f"{rule.id} has no negative golden case"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_golden_case(case: Path, rulebook: Rulebook, engine: Engine) -> None:
    expected: dict[str, Any] = json.loads((case / "expected.json").read_text())
    assert (case / "NOTES.md").is_file(), "every case explains its expectation"
    evaluation = evaluate(
        (case / "request.json").read_bytes(),
        rulebook=rulebook,
        engine=engine,
        now=date.fromisoformat(expected["now"]),
        include_research=True,
        fhir_version=expected.get("fhir_version", "R4"),
        source=str(case),
    )
    cards = {card["source"]["topic"]["code"]: card for card in evaluation.cards}
    for want in expected["cards"]:
        card = cards.get(want["rule"])
        assert card is not None, f"{case.name}: rule {want['rule']} did not fire; cards: {sorted(cards)}"
        assert card["indicator"] == want["indicator"]
        for text in want.get("summary_contains", []):
            assert text in card["summary"], f"{case.name}: {text!r} not in summary {card['summary']!r}"
        for text in want.get("detail_contains", []):
            assert text in card["detail"], f"{case.name}: {text!r} not in detail"
        if "suggestion_labels" in want:
            assert [s["label"] for s in card.get("suggestions", [])] == want["suggestion_labels"]
    if expected.get("no_other_cards"):
        assert sorted(cards) == sorted(w["rule"] for w in expected["cards"])


def test_research_mode_rules_are_hidden_unless_asked_for(rulebook: Rulebook, engine: Engine) -> None:
    research = {rule.id for rule in rulebook.rules if rule.mode == "research"}
    assert research == {"possible-mdr-phenotype-sequential-pgp-substrates"}
    request = (SAMPLES / "mdr-phenotype-paclitaxel-docetaxel-patient-view" / "request.json").read_bytes()
    now = date(2026, 11, 23)
    hidden = evaluate(request, rulebook=rulebook, engine=engine, now=now)
    shown = evaluate(request, rulebook=rulebook, engine=engine, now=now, include_research=True)
    assert not {card["source"]["topic"]["code"] for card in hidden.cards} & research
    assert {card["source"]["topic"]["code"] for card in shown.cards} & research
