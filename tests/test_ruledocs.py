from __future__ import annotations

from pathlib import Path

import pytest

from conftest import ROOT
from mdrcds.cli import main
from mdrcds.knowledge.rulebook import Rulebook
from mdrcds.knowledge.ruledocs import catalogue

DOCS = ROOT / "docs" / "rules"


def test_committed_catalogue_is_current(rulebook: Rulebook) -> None:
    """Run `mdrcds rules docs` after changing rules/ if this fails."""
    pages = catalogue(rulebook)
    assert sorted(p.name for p in DOCS.glob("*.md")) == sorted(pages)
    for name, text in pages.items():
        assert (DOCS / name).read_text(encoding="utf-8") == text, f"docs/rules/{name} is stale"


def test_page_content(rulebook: Rulebook) -> None:
    page = catalogue(rulebook)["mdr1-inhibitor-with-immunotherapy.md"]
    assert "## Evidence: preclinical" in page
    assert "[PubMed 32302378](https://pubmed.ncbi.nlm.nih.gov/32302378/)" in page
    assert "| verapamil | rxnorm 11170, atc C08DA01 |" in page
    assert "| tariquidar | none (name only) |" in page
    index = catalogue(rulebook)["index.md"]
    assert all(f"`{rule.id}`" in index for rule in rulebook.rules)


def test_cli_writes_and_prunes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "old-rule.md").write_text("gone")
    assert main(["rules", "docs", "--out", str(tmp_path)]) == 0
    assert not (tmp_path / "old-rule.md").exists() and (tmp_path / "index.md").is_file()
    assert "removed 1" in capsys.readouterr().out


def test_every_rule_page_says_what_it_flags_in_prose() -> None:
    from mdrcds.knowledge.rulebook import load_rulebook
    from mdrcds.knowledge.ruledocs import flags_in_prose

    rulebook = load_rulebook()
    for rule in rulebook.rules:
        text = flags_in_prose(rule, rulebook)
        assert text.startswith("It flags a patient with "), rule.id
        assert "`" not in text and "True" not in text and "class " not in text, (rule.id, text)
        for alias in rule.when.all:
            assert f"(the {alias})" in text, (rule.id, alias)
