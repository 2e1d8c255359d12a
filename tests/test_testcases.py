"""`mdrcds test`: YAML cases, golden cases, diffs for failures, JUnit and coverage."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree

import pytest

from conftest import SAMPLES
from mdrcds.cli import main
from mdrcds.knowledge.rulebook import Rulebook
from mdrcds.reasoning.engine import Engine
from mdrcds.research.testcases import coverage, find_cases, junit_xml, load_case, run_path

ROOT = Path(__file__).resolve().parents[1]
CASE = ROOT / "tests" / "cases" / "verapamil-pembrolizumab-order-select.yaml"


def test_shorthand_codes_ids_and_subject_are_filled_in() -> None:
    loaded = load_case(CASE)
    [patient, verapamil, pembrolizumab] = [e["resource"] for e in loaded.document["entry"]]
    assert patient == {"resourceType": "Patient", "id": "test-patient"}
    assert verapamil["id"] == "medicationrequest-1"
    assert verapamil["subject"] == {"reference": "Patient/test-patient"}
    assert verapamil["medicationCodeableConcept"] == {
        "coding": [
            {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "11170", "display": "verapamil"}
        ],
        "text": "verapamil",
    }
    assert pembrolizumab["status"] == "draft"


def test_the_example_cases_and_every_golden_case_pass(rulebook: Rulebook, engine: Engine) -> None:
    paths = list(find_cases([ROOT / "tests" / "cases", ROOT / "fhir_samples"]))
    results = [run_path(path, rulebook, engine) for path in paths]
    assert len(results) == 3 + len(list(SAMPLES.glob("*/expected.json")))
    assert [(r.loaded.case.name, r.problems) for r in results if not r.passed] == []


def test_a_wrong_expectation_gives_a_diff_naming_rule_case_and_difference(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(
        CASE.read_text()
        .replace("indicator: info", "indicator: warning")
        .replace("[verapamil, pembrolizumab, preclinical]", "[amiodarone]")
    )
    junit = tmp_path / "junit.xml"
    assert main(["test", str(wrong), "--junit", str(junit)]) == 1
    out = capsys.readouterr().out
    assert f"FAIL verapamil on record, pembrolizumab being ordered ({wrong})" in out
    assert "rule mdr1-inhibitor-with-immunotherapy: indicator: expected 'warning', got 'info'" in out
    assert (
        "rule mdr1-inhibitor-with-immunotherapy: summary: expected to contain 'amiodarone', got 'verapamil"
        in out
    )
    assert "0 cases passed, 1 failed" in out
    suite = ElementTree.fromstring(junit.read_bytes())
    assert (suite.get("tests"), suite.get("failures")) == ("1", "1")
    assert "indicator" in suite.find("testcase/failure").get("message", "")  # type: ignore[union-attr]


def test_unexpected_cards_and_missing_cards_are_named(
    tmp_path: Path, rulebook: Rulebook, engine: Engine
) -> None:
    case = tmp_path / "case.yaml"
    case.write_text(
        CASE.read_text().replace(
            "rule: mdr1-inhibitor-with-immunotherapy", "rule: pgp-inhibitor-with-pgp-substrate-chemotherapy"
        )
    )
    result = run_path(case, rulebook, engine)
    assert result.problems == [
        "rule pgp-inhibitor-with-pgp-substrate-chemotherapy: expected a card, got none",
        "rule mdr1-inhibitor-with-immunotherapy: unexpected card: "
        "'verapamil (MDR1/P-gp inhibitor) with pembrolizumab: preclinical signal only'",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: x\nnow: 2026-11-23\nhook: order-review\n", "hook: Value error, unknown hook 'order-review'"),
        ("name: x\nnow: tomorrow\n", "now: Input should be a valid date"),
        (
            "name: x\nnow: 2026-11-23\nexpect: [{rule: a, fires: true}]\n",
            "expect.0.fires: Extra inputs are not permitted",
        ),
        ("name: x\nnow: 2026-11-23\ndata: [{status: active}]\n", "data[0]: a FHIR resource"),
    ],
)
def test_an_invalid_case_fails_naming_the_field_and_the_run_goes_on(
    tmp_path: Path, rulebook: Rulebook, engine: Engine, text: str, message: str
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    result = run_path(bad, rulebook, engine)
    assert not result.passed
    assert any(message in problem for problem in result.problems), result.problems


def test_coverage_counts_cases_per_rule(rulebook: Rulebook, engine: Engine) -> None:
    results = [run_path(path, rulebook, engine) for path in find_cases([ROOT / "tests" / "cases"])]
    table = coverage(results, rulebook)
    assert table["mdr1-inhibitor-with-immunotherapy"] == {"fired": 1, "not_fired": 2}
    assert table["checkpoint-inhibitor-progression"] == {"fired": 0, "not_fired": 0}
    assert b'tests="3" failures="0"' in junit_xml(results)
