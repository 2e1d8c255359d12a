"""Brand names and product codes mapped to ingredients (rules/provenance/products.csv)."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import ROOT
from mdrcds.knowledge.products import read_products
from mdrcds.knowledge.rulebook import Rulebook
from mdrcds.knowledge.terminology import Concept

PRODUCTS = ROOT / "rules" / "provenance" / "products.csv"


def test_every_verified_row_names_a_value_set_member_and_a_dated_source(rulebook: Rulebook) -> None:
    rows, problems = read_products(PRODUCTS)
    assert problems == [] and len(rows) >= 40
    members = {m.name.lower() for vs in rulebook.terminology.value_sets.values() for m in vs.members}
    for row in rows:
        assert row.ingredient in members, f"{row.name}: no value-set member named {row.ingredient}"
        assert "checked 20" in row.source, row


@pytest.mark.parametrize(
    ("text", "member"),
    [
        ("Keytruda 100 mg/4 mL", "pembrolizumab"),
        ("CALAN SR 240 MG tablet", "verapamil"),
        ("Nexium 40 mg capsule", "esomeprazole"),
        ("Kymriah suspension", "tisagenlecleucel"),
        ("Taxotere 80 mg", "docetaxel"),
    ],
)
def test_brands_classify_as_their_ingredient(text: str, member: str, rulebook: Rulebook) -> None:
    found = rulebook.terminology.classify(Concept((), text), "medication")
    assert member in {m.member.name for m in found}
    assert all(m.matched_by == "name" for m in found)


def test_unverified_rows_are_not_used(rulebook: Rulebook) -> None:
    assert not rulebook.terminology.classify(Concept((), "Lanoxin 125 mcg"), "medication")
    assert not rulebook.terminology.classify(Concept((), "Nizoral 2% shampoo"), "medication")


def test_malformed_rows_are_reported(tmp_path: Path) -> None:
    bad = tmp_path / "products.csv"
    bad.write_text(
        "ingredient,kind,system,code,name,source,verified,note\n"
        "pembrolizumab,brand,,,,somewhere,yes,\n"
        "pembrolizumab,product,nowhere,1,,somewhere,yes,\n"
        "pembrolizumab,other,,,X,somewhere,yes,\n"
    )
    rows, problems = read_products(bad)
    assert rows == [] and len(problems) == 3
