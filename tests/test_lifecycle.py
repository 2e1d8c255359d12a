"""Rule lifecycle: active rules give cards, silent rules are evaluated and audited but never shown,
retired rules are not evaluated; every status other than plain active is recorded with its reviewer."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from mdrcds.cards.render import rule_of
from mdrcds.knowledge.export import plan_definition
from mdrcds.knowledge.rulebook import check_rulebook, load_rulebook
from mdrcds.knowledge.ruledocs import rule_page
from mdrcds.reasoning.engine import Engine
from mdrcds.research.testcases import load_case, run_case
from mdrcds.service import evaluate
from rules_support import PPI_RULE, PPI_SAMPLE, rules_with_status

NOW = date(2026, 11, 23)


def run(rules_dir: Path, **options: Any) -> tuple[list[str], list[str]]:
    rulebook = load_rulebook(rules_dir)
    evaluation = evaluate(
        (PPI_SAMPLE / "request.json").read_bytes(),
        rulebook=rulebook,
        engine=Engine(rulebook),
        now=NOW,
        **options,
    )
    return [rule_of(card) for card in evaluation.cards], evaluation.silent_rule_ids


def test_an_active_rule_gives_its_card(tmp_path: Path) -> None:
    cards, silent = run(rules_with_status(tmp_path / "rules", PPI_RULE, "active"))
    assert cards == [PPI_RULE] and silent == []


def test_a_silent_rule_is_evaluated_but_gives_no_card(tmp_path: Path) -> None:
    rules = rules_with_status(tmp_path / "rules", PPI_RULE, "silent")
    cards, silent = run(rules)
    assert cards == [] and silent == [PPI_RULE]
    # Researchers' tools (rule tests, batch, `evaluate --research`) see what a silent rule finds.
    cards, silent = run(rules, include_silent=True)
    assert cards == [PPI_RULE] and silent == []


def test_a_retired_rule_is_not_evaluated(tmp_path: Path) -> None:
    cards, silent = run(rules_with_status(tmp_path / "rules", PPI_RULE, "retired"), include_silent=True)
    assert cards == [] and silent == []


def test_rule_tests_still_run_a_silent_rule(tmp_path: Path) -> None:
    rulebook = load_rulebook(rules_with_status(tmp_path / "rules", PPI_RULE, "silent"))
    assert run_case(load_case(PPI_SAMPLE), rulebook, Engine(rulebook)).passed


def edit(rules_dir: Path, **fields: Any) -> None:
    path = rules_dir / "rules" / f"{PPI_RULE}.yaml"
    data = yaml.safe_load(path.read_text())
    data.update(fields)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"status": "silent", "status_history": []}, "needs a status_history entry with reviewer and date"),
        (
            {
                "status": "active",
                "status_history": [{"status": "silent", "date": "2026-10-01", "reviewer": "x"}],
            },
            "newest status_history entry says 'silent'",
        ),
        (
            {
                "status": "active",
                "status_history": [
                    {"status": "silent", "date": "2026-10-01", "reviewer": "x"},
                    {"status": "active", "date": "2026-09-01", "reviewer": "x"},
                ],
            },
            "in date order",
        ),
        ({"status": "silent", "status_history": [{"status": "silent", "date": "2026-10-01"}]}, "reviewer"),
        ({"status": "paused"}, "status"),
    ],
)
def test_a_status_change_without_its_record_is_refused(
    tmp_path: Path, fields: dict[str, Any], message: str
) -> None:
    rules = rules_with_status(tmp_path / "rules", PPI_RULE, "active")
    edit(rules, **fields)
    problems = check_rulebook(rules)
    assert any(message in problem for problem in problems), problems


def test_going_live_is_recorded_and_published(tmp_path: Path) -> None:
    rules = rules_with_status(tmp_path / "rules", PPI_RULE, "silent")
    edit(
        rules,
        status="active",
        status_history=[
            {"status": "silent", "date": "2026-10-01", "reviewer": "CDS committee (A. Chair)"},
            {"status": "active", "date": "2026-11-20", "reviewer": "CDS committee (A. Chair)", "note": "go"},
        ],
    )
    assert check_rulebook(rules) == []
    rulebook = load_rulebook(rules)
    rule = rulebook.rule(PPI_RULE)
    page = rule_page(rule, rulebook)
    assert "Lifecycle status: **active**" in page
    assert "- 2026-11-20: active, reviewed by CDS committee (A. Chair) (go)" in page
    extensions = {
        e["url"].rsplit("/", 1)[1]: e["valueCode"]
        for e in plan_definition(rule, rulebook)["extension"]
        if "valueCode" in e
    }
    assert extensions["lifecycle-status"] == "active"


def test_a_silent_rule_is_published_as_draft(tmp_path: Path) -> None:
    rulebook = load_rulebook(rules_with_status(tmp_path / "rules", PPI_RULE, "silent"))
    assert plan_definition(rulebook.rule(PPI_RULE), rulebook)["status"] == "draft"
