"""Interoperability: every golden case's response against a strict third-party client model and the
CDS Hooks 2.0 logical model and examples; DetectedIssue output; the rulebook exported as FHIR."""

from __future__ import annotations

import importlib.util
import json
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pydantic
import pytest

from conftest import ROOT, SAMPLES
from mdrcds.cards.detectedissue import detected_issue
from mdrcds.cards.render import rule_of
from mdrcds.cli import rulebook_files
from mdrcds.knowledge import export as knowledge_export
from mdrcds.knowledge.rulebook import Rulebook
from mdrcds.reading.fhir import build_resource
from mdrcds.reasoning.engine import Engine
from mdrcds.service import Evaluation, evaluate
from mdrcds.store.records import FeedbackItem

DATA = Path(__file__).parent / "data" / "cds-hooks"
HEALTHCHAIN = ROOT / ".venv" / "third-party" / "healthchain-0.16.1" / "healthchain" / "models" / "responses"
CASES = sorted(p.parent for p in SAMPLES.glob("*/expected.json"))
NOW = date(2026, 11, 23)
# Link fields of CDS Hooks 2.0.1 that the logical model (fhir-tools-ig) does not list yet, and the
# camel-case spelling a strict client requires (docs/decisions/0006).
EXTRA_LINK_FIELDS = {"autolaunchable", "autoLaunchable"}


def load_healthchain() -> ModuleType:
    """HealthChain 0.16.1's CDS Hooks response model, loaded from its own file (scripts/bootstrap
    installs it apart: the package's dependencies conflict with ours)."""
    path = HEALTHCHAIN / "cdsresponse.py"
    assert path.is_file(), "run scripts/bootstrap: it installs the pinned HealthChain model"
    spec = importlib.util.spec_from_file_location("healthchain_cdsresponse", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


HEALTHCHAIN_MODEL = load_healthchain()


def evaluated(case: Path, rulebook: Rulebook, engine: Engine) -> Evaluation:
    expected = json.loads((case / "expected.json").read_text())
    return evaluate(
        (case / "request.json").read_bytes(),
        rulebook=rulebook,
        engine=engine,
        now=date.fromisoformat(expected["now"]),
        fhir_version=expected.get("fhir_version", "R4"),
        include_research=True,
    )


def logical_model() -> dict[str, tuple[set[str], set[str]]]:
    """Element path -> (allowed child names, required child names) from the CDS Hooks response model."""
    definition = json.loads((DATA / "structuredefinition-CDSHooksResponse.json").read_text())
    elements = (definition.get("snapshot") or definition["differential"])["element"]
    model: dict[str, tuple[set[str], set[str]]] = {}
    for element in elements:
        parent, _, name = element["path"].rpartition(".")
        if not parent:
            continue
        allowed, required = model.setdefault(parent, (set(), set()))
        allowed.add(name)
        if element.get("min", 0) >= 1:
            required.add(name)
    return model


MODEL = logical_model()


def shape_problems(node: Any, path: str = "CDSHooksResponse") -> list[str]:
    """Keys the logical model does not allow, and required keys that are missing, anywhere in a response."""
    problems: list[str] = []
    if isinstance(node, list):
        for item in node:
            problems += shape_problems(item, path)
        return problems
    if not isinstance(node, dict) or path not in MODEL:
        return problems
    allowed, required = MODEL[path]
    if path.endswith(".links"):
        allowed = allowed | EXTRA_LINK_FIELDS
    problems += [
        f"{path}: unknown field {key!r}" for key in node if key not in allowed and key != "extension"
    ]
    problems += [f"{path}: missing {key!r}" for key in required if key not in node]
    for key, value in node.items():
        if key != "resource":  # an action's FHIR resource is not part of the CDS Hooks model
            problems += shape_problems(value, f"{path}.{key}")
    return problems


def test_the_shape_check_accepts_the_specifications_own_examples() -> None:
    examples = [json.loads((DATA / "fhir-tools-ig-Binary-CDSHooksResponse.json").read_text())]
    examples += [json.loads((DATA / f"spec-2.0.1-{n}-example.json").read_text()) for n in (17, 18)]
    for example in examples:
        assert shape_problems(example) == []
    for name in ("12-action", "13-action", "14-action"):
        action = json.loads((DATA / f"spec-2.0.1-{name}.json").read_text())
        assert shape_problems(action, "CDSHooksResponse.cards.suggestions.actions") == []
    source = json.loads((DATA / "spec-2.0.1-11-source.json").read_text())["source"]
    assert shape_problems(source, "CDSHooksResponse.cards.source") == []
    assert shape_problems({"cards": [{"summary": "x", "colour": "red"}]}) == [
        "CDSHooksResponse.cards: unknown field 'colour'",
        "CDSHooksResponse.cards: missing 'source'",
    ]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_every_golden_response_passes_a_strict_client_and_the_spec_model(
    case: Path, rulebook: Rulebook, engine: Engine
) -> None:
    response = evaluated(case, rulebook, engine).response()
    HEALTHCHAIN_MODEL.CDSResponse.model_validate(response)
    assert shape_problems(response) == []
    for card in response["cards"]:
        for link in card.get("links", []):
            assert link["autolaunchable"] is False and link["autoLaunchable"] is False
        for suggestion in card.get("suggestions", []):
            assert isinstance(suggestion["isRecommended"], bool)


def test_a_missing_autolaunchable_would_fail_the_strict_client(rulebook: Rulebook, engine: Engine) -> None:
    response = evaluated(SAMPLES / "mdr1-pembrolizumab-verapamil-order-select", rulebook, engine).response()
    HEALTHCHAIN_MODEL.CDSResponse.model_validate(response)
    for card in response["cards"]:
        for link in card["links"]:
            del link["autoLaunchable"]
    with pytest.raises(pydantic.ValidationError, match="autoLaunchable"):
        HEALTHCHAIN_MODEL.CDSResponse.model_validate(response)


def test_a_missing_is_recommended_would_fail_the_strict_client(rulebook: Rulebook, engine: Engine) -> None:
    response = evaluated(
        SAMPLES / "transplant-liver-procedure-pembrolizumab-order-select", rulebook, engine
    ).response()
    [card] = response["cards"]
    assert card["suggestions"]
    HEALTHCHAIN_MODEL.CDSResponse.model_validate(response)
    del card["suggestions"][0]["isRecommended"]
    with pytest.raises(pydantic.ValidationError, match="isRecommended"):
        HEALTHCHAIN_MODEL.CDSResponse.model_validate(response)


# -- DetectedIssue -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "case", [c for c in CASES if json.loads((c / "expected.json").read_text())["cards"]], ids=lambda c: c.name
)
def test_every_card_becomes_a_valid_detected_issue(case: Path, rulebook: Rulebook, engine: Engine) -> None:
    evaluation = evaluated(case, rulebook, engine)
    issues = evaluation.detected_issues(rulebook, NOW)
    assert len(issues) == len(evaluation.cards)
    for card, issue in zip(evaluation.cards, issues, strict=True):
        assert issue["resourceType"] == "DetectedIssue" and issue["id"] == card["uuid"]
        assert (
            issue["severity"] == {"info": "low", "warning": "moderate", "critical": "high"}[card["indicator"]]
        )
        assert issue["code"]["coding"][0]["code"] == rule_of(card)
        finding = next(f for f in evaluation.findings if f.rule.id == rule_of(card))
        sources = {fact.source for match in finding.matches for fact in match.values()}
        assert {ref["reference"] for ref in issue["implicated"]} == sources
        assert issue["detail"] == card["detail"]


def test_mitigation_comes_from_the_clinicians_feedback(rulebook: Rulebook, engine: Engine) -> None:
    evaluation = evaluated(
        SAMPLES / "transplant-liver-procedure-pembrolizumab-order-select", rulebook, engine
    )
    [card], [finding] = evaluation.cards, evaluation.findings
    when = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    accepted = FeedbackItem("s", card["uuid"], "accepted", when, [card["suggestions"][0]["uuid"]])
    issue = build_resource(
        detected_issue(card, finding, rulebook, patient_id="p", identified=NOW, feedback=accepted)
    )
    assert issue["mitigation"][0]["action"]["text"] == "Accepted: " + card["suggestions"][0]["label"]
    reason = {
        "system": "http://terminology.hl7.org/CodeSystem/non-adherence-reason-codes",
        "code": "risk-benefit-ratio",
    }
    overridden = FeedbackItem(
        "s", card["uuid"], "overridden", when, [], reason, "discussed with transplant team"
    )
    issue = build_resource(
        detected_issue(card, finding, rulebook, patient_id="p", identified=NOW, feedback=overridden)
    )
    [mitigation] = issue["mitigation"]
    assert mitigation["action"]["coding"][0]["code"] == "risk-benefit-ratio"
    assert "discussed with transplant team" in mitigation["action"]["text"]
    other = FeedbackItem("s", "another-card", "overridden", when)
    assert "mitigation" not in detected_issue(
        card, finding, rulebook, patient_id="p", identified=NOW, feedback=other
    )


CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({}, None),
        ({"tx": ["R"]}, "R"),
        ({"tx": ["N"], "nivo": ["V"]}, "V"),
        ({"tx": ["L", "R"], "nivo": ["M"]}, "R"),
    ],
)
def test_a_detected_issue_carries_the_most_restrictive_label_of_its_resources(
    labels: dict[str, list[str]], expected: str | None, rulebook: Rulebook, engine: Engine
) -> None:
    request = json.loads(
        (SAMPLES / "context-snomed-kidney-transplant-living-donor-text-fires" / "request.json").read_text()
    )
    resources = [e["resource"] for e in request["prefetch"]["conditions"]["entry"]]
    resources += [e["resource"] for e in request["context"]["draftOrders"]["entry"]]
    for resource in resources:
        key = "tx" if resource["resourceType"] == "Condition" else "nivo"
        if key in labels:
            resource["meta"] = {
                "security": [{"system": CONFIDENTIALITY, "code": code} for code in labels[key]]
                + [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "PSY"}]
            }
    evaluation = evaluate(json.dumps(request).encode(), rulebook=rulebook, engine=engine, now=NOW)
    [issue] = evaluation.detected_issues(rulebook, NOW)
    if expected is None:
        assert "meta" not in issue
    else:
        assert issue["meta"]["security"] == [{"system": CONFIDENTIALITY, "code": expected}]


def test_detected_issue_suggestions_create_the_issue(rulebook: Rulebook, engine: Engine) -> None:
    evaluation = evaluated(SAMPLES / "mdr1-pembrolizumab-verapamil-order-select", rulebook, engine)
    [card] = evaluation.with_detected_issue_suggestions(rulebook, NOW).cards
    [suggestion] = card["suggestions"]
    assert card["selectionBehavior"] == "at-most-one" and suggestion["isRecommended"] is False
    [action] = suggestion["actions"]
    assert action["type"] == "create" and action["resource"]["resourceType"] == "DetectedIssue"
    HEALTHCHAIN_MODEL.CDSResponse.model_validate({"cards": [card]})


def test_detected_issue_golden_files(rulebook: Rulebook, engine: Engine) -> None:
    """api/examples/detectedissue/ holds the DetectedIssues of two cases (`mdrcds evaluate --format detectedissue`)."""
    folder = ROOT / "api" / "examples" / "detectedissue"
    files = sorted(folder.glob("*.json"))
    assert len(files) >= 2
    for path in files:
        evaluation = evaluated(SAMPLES / path.stem, rulebook, engine)
        bundle = {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": i} for i in evaluation.detected_issues(rulebook, NOW)],
        }
        assert json.loads(path.read_text()) == build_resource(bundle), f"{path} is stale"


# -- the rulebook as FHIR -----------------------------------------------------------------------------


def test_rulebook_export_round_trips(rulebook: Rulebook) -> None:
    files = rulebook_files(rulebook)
    bundle = json.loads(files["Bundle-mdrcds-rulebook.json"])
    summary = knowledge_export.summarise(bundle)
    assert summary["version"] == rulebook.version
    assert sorted(summary["rules"]) == sorted(rule.id for rule in rulebook.rules)
    for rule in rulebook.rules:
        read = summary["rules"][rule.id]
        assert read["citations"] == rule.citations
        assert read["hooks"] == rule.hooks and read["grade"] == rule.evidence.grade
    for value_set in rulebook.terminology.value_sets.values():
        from mdrcds.knowledge.terminology import SYSTEM_URIS

        codes = sorted({(SYSTEM_URIS[c.system], c.code) for m in value_set.members for c in m.codes})
        read = summary["value_sets"][value_set.id]
        assert read["codes"] == codes
        assert read["name_only"] == [m.name for m in value_set.members if not m.codes]
    kinds = {entry["resource"]["resourceType"] for entry in bundle["entry"]}
    assert kinds == {"Library", "PlanDefinition", "ValueSet"}


def test_committed_rulebook_export_is_current(rulebook: Rulebook) -> None:
    folder = ROOT / "api" / "rulebook"
    files = rulebook_files(rulebook)
    assert sorted(p.name for p in folder.glob("*.json")) == sorted(files), "run mdrcds rules export"
    for name, text in files.items():
        assert (folder / name).read_text() == text, f"api/rulebook/{name} is stale: run mdrcds rules export"
