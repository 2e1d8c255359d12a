"""Card wording checked with the real values of every golden case: no self-referential conditional, each
triggering resource listed once, and no card recommends changing a drug its rule does not name."""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any

from conftest import SAMPLES
from mdrcds.knowledge.rulebook import Rulebook
from mdrcds.reasoning.engine import Engine
from mdrcds.service import Evaluation, evaluate

CASES = sorted(p.parent for p in SAMPLES.glob("*/expected.json"))
SELF_REFERENCE = re.compile(r"\b[Ii]f ([\w-]+(?: [\w-]+)*) (?:is|are) \1\b")
TRIGGER = re.compile(r"^- .*\((?P<source>[A-Za-z]+/[^,\s)]+)", re.M)


def evaluations(rulebook: Rulebook, engine: Engine) -> list[Evaluation]:
    out = []
    for case in CASES:
        expected: dict[str, Any] = json.loads((case / "expected.json").read_text())
        out.append(
            evaluate(
                (case / "request.json").read_bytes(),
                rulebook=rulebook,
                engine=engine,
                now=date.fromisoformat(expected["now"]),
                include_research=True,
                fhir_version=expected.get("fhir_version", "R4"),
                source=case.name,
            )
        )
    return out


def test_no_card_renders_a_self_referential_conditional(rulebook: Rulebook, engine: Engine) -> None:
    assert SELF_REFERENCE.search("If amiodarone is amiodarone, carvedilol or verapamil")  # the check works
    for evaluation in evaluations(rulebook, engine):
        for card in evaluation.cards:
            assert not SELF_REFERENCE.search(card["detail"]), (evaluation.source, card["summary"])


def test_each_triggering_resource_is_listed_once(rulebook: Rulebook, engine: Engine) -> None:
    listed = 0
    for evaluation in evaluations(rulebook, engine):
        for card in evaluation.cards:
            triggers = card["detail"].split("**What triggered this card**", 1)[1].split("**", 1)[0]
            sources = TRIGGER.findall(triggers)
            assert len(sources) == len(set(sources)), (evaluation.source, sources)
            listed += len(sources)
    assert listed > 100


def test_suggestions_remove_only_the_drug_the_rule_names(rulebook: Rulebook, engine: Engine) -> None:
    for evaluation in evaluations(rulebook, engine):
        for finding, card in zip(evaluation.findings, evaluation.cards, strict=True):
            change_for = finding.rule.card.change_for
            allowed = {fact.source for fact in finding.facts_of(change_for)} if change_for else set()
            for suggestion in card.get("suggestions", []):
                for action in suggestion["actions"]:
                    assert action["resourceId"] in allowed, (evaluation.source, card["summary"])
