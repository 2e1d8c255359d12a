"""`mdrcds explain`: for every rule, a golden case where it fires and one where it does not, explained
from the evaluation's own facts and the rule's patterns (mdrcds.research.explain)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from conftest import SAMPLES
from mdrcds.cli import main
from mdrcds.knowledge.rulebook import Rulebook, load_rulebook
from mdrcds.reasoning.engine import Engine
from mdrcds.research.explain import explain
from mdrcds.service import evaluate

RULES = [rule.id for rule in load_rulebook().rules]


def cases_for(rule_id: str) -> tuple[Path, Path]:
    """A golden case where the rule fires, and its negative case (the first of each, by name)."""
    fires = negative = None
    for expected_file in sorted(SAMPLES.glob("*/expected.json")):
        expected = json.loads(expected_file.read_text())
        if fires is None and any(card["rule"] == rule_id for card in expected["cards"]):
            fires = expected_file.parent
        if negative is None and expected.get("negative_for") == rule_id:
            negative = expected_file.parent
    assert fires is not None and negative is not None, rule_id
    return fires, negative


def explained(case: Path, rule_id: str, rulebook: Rulebook, engine: Engine) -> tuple[bool, str]:
    now = date.fromisoformat(json.loads((case / "expected.json").read_text())["now"])
    evaluation = evaluate(
        (case / "request.json").read_bytes(),
        rulebook=rulebook,
        engine=engine,
        now=now,
        include_research=True,
        include_silent=True,
    )
    rule = next(r for r in rulebook.rules if r.id == rule_id)
    explanation = explain(rule, evaluation, rulebook, now)
    return explanation.fired, explanation.text()


@pytest.mark.parametrize("rule_id", RULES)
def test_every_rule_is_explained_when_it_fires_and_when_it_does_not(
    rule_id: str, rulebook: Rulebook, engine: Engine
) -> None:
    fires, negative = cases_for(rule_id)
    fired, text = explained(fires, rule_id, rulebook, engine)
    assert fired and "FIRED" in text and "matched:" in text
    fired, text = explained(negative, rule_id, rulebook, engine)
    assert not fired and "DID NOT FIRE" in text
    # the miss is explained: a nearest miss with its failed condition, a missing class, or a test
    assert (
        "nearest miss:" in text
        or "no match:" in text
        or "not met" in text
        or "runs on" in text
        or ("no rule was evaluated" in text)
        or "only when the selected" in text
    ), text


@pytest.mark.parametrize(
    ("case", "rule_id", "now", "words"),
    [
        (
            "route-instruction-both-eyes-not-systemic-no-card",
            "mdr1-inhibitor-with-immunotherapy",
            None,
            "not systemic: 'Instill 1 drop into both eyes twice daily' (ophthalmic)",
        ),
        (
            "exposure-pembrolizumab-given-12-days-ago-verapamil-order-select",
            "mdr1-inhibitor-with-immunotherapy",
            "2027-03-01",
            "Pembrolizumab 200 mg IV: not current on 2027-03-01 (status completed; counts as exposure until 2027-02-03)",
        ),
        (
            "mdr1-pembrolizumab-verapamil-stopped",
            "mdr1-inhibitor-with-immunotherapy",
            None,
            "not current on 2026-11-23",
        ),
    ],
)
def test_the_cli_says_why_in_clinical_words(
    capsys: pytest.CaptureFixture[str], case: str, rule_id: str, now: str | None, words: str
) -> None:
    args = ["explain", rule_id, str(SAMPLES / case / "request.json"), *(["--now", now] if now else [])]
    assert main(args) == 0
    assert words in capsys.readouterr().out


def test_explain_json_and_errors(capsys: pytest.CaptureFixture[str]) -> None:
    request = SAMPLES / "mdr1-pembrolizumab-verapamil-order-select" / "request.json"
    assert main(["explain", "mdr1-inhibitor-with-immunotherapy", str(request), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["fired"] is True and [p["alias"] for p in document["patterns"]] == [
        "inhibitor",
        "immunotherapy",
    ]
    assert main(["explain", "no-such-rule", str(request)]) == 2
    assert "no rule 'no-such-rule'" in capsys.readouterr().err
