"""Every code in rules/ is verified in the knowledge base copy, or carries its own source; every
citation a rule uses is verified."""

from __future__ import annotations

import csv

from conftest import ROOT
from mdrcds.rulebook import Rulebook

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
        if (code.system, code.code.removeprefix("HGNC:")) not in verified
    ]
    assert unverified == []


def test_name_only_members_say_so(rulebook: Rulebook) -> None:
    for value_set in rulebook.terminology.value_sets.values():
        for member in value_set.members:
            if not member.codes:
                assert member.unverified, f"{value_set.id}: {member.name} has no codes and no reason"


def test_every_rule_citation_is_verified_and_linkable(rulebook: Rulebook) -> None:
    for rule in rulebook.rules:
        for key in rule.citations:
            citation = rulebook.citations[key]
            assert citation.verified.strip()
            assert citation.links(), key


def test_unused_citations_are_still_complete(rulebook: Rulebook) -> None:
    for key, citation in rulebook.citations.items():
        assert citation.pmid or citation.doi or citation.url, key
