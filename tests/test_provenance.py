"""Every code in rules/ is verified in the knowledge base copy, or carries its own source; every
citation a rule uses is verified."""

from __future__ import annotations

import csv

from conftest import ROOT
from mdrcds.knowledge.rulebook import Rulebook

_SYSTEMS = {
    "RxNorm": "rxnorm",
    "ATC": "atc",
    "SNOMED CT": "snomed",
    "SNOMED": "snomed",
    "LOINC": "loinc",
    "HGNC": "hgnc",
    "NCIt": "ncit",
    "ICD-10-CM": "icd10cm",
}


def verified_codes() -> set[tuple[str, str]]:
    with open(ROOT / "rules" / "provenance" / "codes.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    codes = set()
    for row in rows:
        system = _SYSTEMS.get(row["system"])
        if row["verified"] == "yes" and system and row["code"]:
            code = row["code"].removeprefix("HGNC:") if system == "hgnc" else row["code"]
            codes.add((system, code))
    return codes


def test_every_value_set_code_is_verified(rulebook: Rulebook) -> None:
    verified = verified_codes()
    unverified = [
        (value_set.id, member.name, code.system, code.code)
        for value_set in rulebook.terminology.value_sets.values()
        for member in value_set.members
        for code in member.codes
        if (code.system, code.code.removeprefix("HGNC:")) not in verified and not code.source
    ]
    assert unverified == []


def test_codes_outside_the_knowledge_base_record_a_dated_source(rulebook: Rulebook) -> None:
    sourced = [
        code
        for vs in rulebook.terminology.value_sets.values()
        for m in vs.members
        for code in m.codes
        if code.source
    ]
    assert sourced, "the significance and implication codes carry their own source"
    for code in sourced:
        assert code.source and "checked 20" in code.source, code


def test_name_only_members_say_so(rulebook: Rulebook) -> None:
    for value_set in rulebook.terminology.value_sets.values():
        for member in value_set.members:
            if not member.codes:
                assert member.unverified, f"{value_set.id}: {member.name} has no codes and no reason"


def test_every_rule_citation_is_verified_and_linkable(rulebook: Rulebook) -> None:
    for rule in rulebook.rules:
        linkable = [key for key in rule.citations if rulebook.citations[key].links()]
        assert linkable, f"{rule.id} cites nothing a clinician can open"
        for key in rule.citations:
            assert rulebook.citations[key].verified.strip(), key


def test_only_seed_documents_may_lack_a_link(rulebook: Rulebook) -> None:
    for key, citation in rulebook.citations.items():
        assert citation.pmid or citation.doi or citation.url or citation.kind == "seed", key


def test_no_citation_text_was_cut_by_a_yaml_comment(rulebook: Rulebook) -> None:
    # An unquoted ' #' starts a YAML comment and silently drops the rest of a value.
    for key, citation in rulebook.citations.items():
        for text in (citation.verified, citation.unverified or "", citation.title):
            assert text.count("(") == text.count(")"), f"{key}: {text!r} looks truncated"
