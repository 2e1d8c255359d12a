from __future__ import annotations

import re
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
    assert (
        "| verapamil | [rxnorm 11170](https://mor.nlm.nih.gov/RxNav/search?searchBy=RXCUI&searchTerm=11170), "
        "[atc C08DA01](https://atcddd.fhi.no/atc_ddd_index/?code=C08DA01) |" in page
    )
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


INTERNAL = re.compile(
    r"sources-and-caveats|codes-and-citations|codes\.csv|seeds/|\b[0-9a-f_]{10,}\.txt|knowledge §"
)


def test_rule_pages_cite_public_sources_not_internal_files(rulebook: Rulebook) -> None:
    """A reader of a rule page can open every source it names: references link to PubMed, DOI or
    the label; codes link to their terminology's public page; the knowledge base's internal files
    (which the YAML still records for maintainers) are not named."""
    pages = catalogue(rulebook)
    for rule in rulebook.rules:
        page = pages[f"{rule.id}.md"]
        assert not INTERNAL.search(page), (rule.id, INTERNAL.search(page))
        for key in rule.citations:
            citation = rulebook.citations[key]
            for link in citation.links():
                assert f"]({link.url})" in page, (rule.id, key)
            assert f"Checked {citation.checked.isoformat()}" in page
    # the internal record is kept where maintainers read it
    assert any(INTERNAL.search(c.verified) for c in rulebook.citations.values())


@pytest.mark.parametrize(
    ("recorded", "shown"),
    [
        ("PMID, DOI (knowledge sources-and-caveats.md §7 #1)", "PMID, DOI"),
        (
            "all fields (knowledge codes-and-citations-2.md §5); trial NCT00046930",
            "all fields; trial NCT00046930",
        ),
        (
            "knowledge/sources-and-caveats.md §3; codes.csv group 3_pgp_inhibitor",
            "the project's verified code list",
        ),
        (
            "canonical URL (codes.csv group 10_cds_artifact); read at https://x.org/a",
            "canonical URL; read at https://x.org/a",
        ),
        (
            "project seed document 000_6dccf5032ac0b240.txt (printed 2026-04-27)",
            "the project's seed document (printed 2026-04-27)",
        ),
        (
            "PubMed record, https://pubmed.ncbi.nlm.nih.gov/1/",
            "PubMed record, https://pubmed.ncbi.nlm.nih.gov/1/",
        ),
    ],
)
def test_internal_file_mentions_are_left_out_and_public_ones_kept(recorded: str, shown: str) -> None:
    from mdrcds.knowledge.citations import without_internal_files

    assert without_internal_files(recorded) == shown
