from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pydantic
import pytest
import yaml

from conftest import ROOT
from mdrcds.errors import EvaluationLimitError, RuleLoadError
from mdrcds.facts import Fact
from mdrcds.knowledge.citations import Citation
from mdrcds.knowledge.rulebook import Rulebook, check_rulebook, load_rulebook
from mdrcds.reasoning.engine import Engine

RULE = "mdr1-inhibitor-with-immunotherapy"


def test_builtin_rulebook_is_clean() -> None:
    assert check_rulebook(ROOT / "rules") == []
    rulebook = load_rulebook(ROOT / "rules")
    assert RULE in [r.id for r in rulebook.rules] and len(rulebook.rules) >= 12
    assert rulebook.version.startswith("0.1.0+")


@pytest.fixture
def rules_copy(tmp_path: Path) -> Path:
    target = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", target)
    return target


def edit_rule(rules_dir: Path, change: Callable[[dict[str, object]], None], rule_id: str = RULE) -> Path:
    path = rules_dir / "rules" / f"{rule_id}.yaml"
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def set_path(data: dict[str, object], dotted: str, value: object) -> None:
    *parents, last = dotted.split(".")
    node: dict[str, object] = data
    for key in parents:
        node = node[key]  # type: ignore[assignment]
    node[last] = value


@pytest.mark.parametrize(
    ("dotted", "value", "message"),
    [
        (
            "when.all.inhibitor.class",
            "no-such-set",
            "when.all.inhibitor.class: unknown value set 'no-such-set'",
        ),
        ("when.all.inhibitor.colour", "red", "when.all.inhibitor.colour: unknown fact field"),
        ("when.all.inhibitor.current", "yes", "when.all.inhibitor.current: 'yes' is not a valid value"),
        (
            "citations",
            ["chen-2020-mdr1-ctl", "made-up-2024"],
            "citations: unknown citation key 'made-up-2024'",
        ),
        (
            "card.summary",
            "{inhibitr} with {immunotherapy}",
            "card.summary: template field {inhibitr} cannot be rendered",
        ),
        (
            "card.mechanism",
            "{inhibitor.dose}",
            "card.mechanism: template field {inhibitor.dose} cannot be rendered",
        ),
        (
            "card.consequence",
            "Contraindicated combination.",
            "card.consequence: says contraindication, but the evidence is preclinical",
        ),
        ("indicator", "critical", "indicator: preclinical evidence carries an info card, not critical"),
        (
            "card.suggestions",
            [{"label": "x", "remove_draft": "nobody"}],
            "remove_draft: unknown alias 'nobody'",
        ),
        ("card.override_reasons", ["not-a-reason"], "card.override_reasons: unknown code 'not-a-reason'"),
        ("evidence.grade", "anecdote", "evidence.grade: Input should be"),
        ("hooks", ["patient-view", "encounter-start"], "hooks.1: Input should be"),
        (
            "card.context",
            [{"label": "x", "class": "nope", "within_days": 14}],
            "card.context[0].class: unknown value set 'nope'",
        ),
        (
            "card.context",
            [{"label": "x", "class": "digoxin-level", "within_days": 14, "alias": "who"}],
            "card.context[0].alias: unknown alias 'who'",
        ),
    ],
)
def test_lint_names_file_rule_and_field(rules_copy: Path, dotted: str, value: object, message: str) -> None:
    path = edit_rule(rules_copy, lambda data: set_path(data, dotted, value))
    problems = check_rulebook(rules_copy)
    assert any(p.startswith(f"{path}: rule {RULE}: ") and message in p for p in problems), problems
    with pytest.raises(RuleLoadError):
        load_rulebook(rules_copy)


def test_pattern_limit_of_the_engine(rules_copy: Path) -> None:
    def many(data: dict[str, object]) -> None:
        data["when"] = {"all": {f"a{i}": {"kind": "medication", "class": "pgp-inhibitor"} for i in range(17)}}

    edit_rule(rules_copy, many)
    assert any("17 patterns; the engine allows at most 16" in p for p in check_rulebook(rules_copy))


def test_joins_that_can_fan_out_are_refused(rules_copy: Path) -> None:
    def five(data: dict[str, object]) -> None:
        data["when"] = {"all": {f"a{i}": {"kind": "medication", "class": "pgp-inhibitor"} for i in range(5)}}

    edit_rule(rules_copy, five)
    assert any("5 patterns joined; at most 3" in p for p in check_rulebook(rules_copy))


def test_a_non_finite_threshold_is_refused(rules_copy: Path) -> None:
    def infinite(data: dict[str, object]) -> None:
        when = data["when"]
        assert isinstance(when, dict)
        when["all"]["inhibitor"]["prior_pgp_substrates"] = {">=": float("inf")}

    edit_rule(rules_copy, infinite)
    assert any("inf is not a finite number" in p for p in check_rulebook(rules_copy))


def test_every_rule_stays_bounded_with_50_medications_per_pattern(rulebook: Rulebook, engine: Engine) -> None:
    """A large record: 50 facts for every pattern of every rule. The engine finishes, within the limit."""
    facts: list[Fact] = []
    for rule in rulebook.rules:
        for alias, pattern in rule.when.all.items():
            classes = pattern["class"] if isinstance(pattern["class"], list) else [pattern["class"]]
            kinds = pattern["kind"] if isinstance(pattern["kind"], list) else [pattern["kind"]]
            for number in range(50):
                constants = {
                    k: (v[0] if isinstance(v, list) else v)
                    for k, v in pattern.items()
                    if k not in ("kind", "class") and not isinstance(v, dict)
                }
                numeric = {k: max(v.values()) + 1 for k, v in pattern.items() if isinstance(v, dict)}
                facts.append(
                    Fact(
                        id=f"MedicationRequest/{rule.id}-{alias}-{number}#{classes[0]}:m",
                        kind=str(kinds[0]),
                        value_set=str(classes[0]),
                        member="m",
                        source=f"MedicationRequest/{rule.id}-{alias}-{number}",
                        label="x",
                        status=str(constants.pop("status", "active")),
                        current=bool(constants.pop("current", True)),
                        matched_by="code",
                        draft=bool(constants.pop("draft", False)),
                        attributes={**constants, **numeric},
                    )
                )
    try:
        matches = engine.run(facts, max_matches=100_000)
    except EvaluationLimitError:
        return
    assert len(matches) <= 100_000


def test_preclinical_card_must_say_so(rules_copy: Path) -> None:
    def bland(data: dict[str, object]) -> None:
        card = data["card"]
        assert isinstance(card, dict)
        card["summary"] = "{inhibitor} with {immunotherapy}"
        card["consequence"] = card["mechanism"] = card["recommendation"] = "Check."

    edit_rule(rules_copy, bland)
    assert any("preclinical evidence must be named" in p for p in check_rulebook(rules_copy))


def test_value_set_member_without_codes_must_say_why(rules_copy: Path) -> None:
    path = rules_copy / "valuesets" / "car-t.yaml"
    data = yaml.safe_load(path.read_text())
    data["members"].append({"name": "madeupleucel"})
    path.write_text(yaml.safe_dump(data))
    assert any("madeupleucel" in p and "no codes" in p for p in check_rulebook(rules_copy))


def test_broken_yaml_and_duplicate_ids(rules_copy: Path) -> None:
    (rules_copy / "rules" / "broken.yaml").write_text("id: [unclosed\n")
    shutil.copy(rules_copy / "rules" / f"{RULE}.yaml", rules_copy / "rules" / "copy.yaml")
    problems = check_rulebook(rules_copy)
    assert any("broken.yaml: not valid YAML" in p for p in problems)
    assert any(f"{RULE}.yaml: rule {RULE}: id also used by" in p and "copy.yaml" in p for p in problems)
    assert any(
        "copy.yaml: rule mdr1-inhibitor-with-immunotherapy: id differs from the file name" in p
        for p in problems
    )


def test_version_digest_follows_content(rules_copy: Path) -> None:
    before = load_rulebook(rules_copy).version
    edit_rule(rules_copy, lambda data: set_path(data, "title", "Changed title"))
    assert load_rulebook(rules_copy).version != before


def test_an_icd10cm_code_not_in_the_cms_release_is_refused(rules_copy: Path) -> None:
    path = rules_copy / "valuesets" / "autoimmune-disease.yaml"
    path.write_text(path.read_text().replace("code: M35.0\n", "code: M35.Q9\n", 1))
    problems = check_rulebook(rules_copy)
    assert any(str(path) in p and "'M35.Q9' is not in the CMS ICD-10-CM" in p for p in problems), problems
    assert load_rulebook(rules_copy)  # the release is the linter's check, not a load-time one


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("definition", None, "definition: a one-line definition"),
        ("definition", "two\nlines", "definition: a one-line definition"),
        ("source", "  ", "source: the authoritative list"),
    ],
)
def test_a_value_set_states_its_definition_and_source(
    rules_copy: Path, field: str, value: str | None, message: str
) -> None:
    path = rules_copy / "valuesets" / "digoxin-level.yaml"
    data = yaml.safe_load(path.read_text())
    if value is None:
        del data[field]
    else:
        data[field] = value
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    assert any(str(path) in p and message in p for p in check_rulebook(rules_copy))


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"verified": "from memory, NOT checked"}, "must name where the fields were read"),
        ({"verified": "all fields"}, "must name where the fields were read"),
        ({"checked": None}, "checked"),
        ({"checked": "last week"}, "checked"),
    ],
)
def test_a_citation_must_say_where_and_when_it_was_verified(changes: dict[str, object], problem: str) -> None:
    entry: dict[str, object] = {
        "kind": "article",
        "title": "A title",
        "verified": "PMID and DOI on pubmed.ncbi.nlm.nih.gov",
        "checked": "2026-11-23",
    }
    Citation.model_validate(entry)  # the true positive: a source and a date
    entry.update(changes)
    if entry.get("checked") is None:
        del entry["checked"]
    with pytest.raises(pydantic.ValidationError, match=problem):
        Citation.model_validate(entry)
