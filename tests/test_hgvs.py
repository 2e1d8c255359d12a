"""HGVS descriptions as laboratories write them (mdrcds.facts.hgvs), and the loss-of-function policy by
gene role (mdrcds.facts.derived.loss_of_function), with the real rulebook."""

from __future__ import annotations

from typing import Any

import pytest

from mdrcds.facts.derived import loss_of_function
from mdrcds.facts.genomics import Annotation, annotation_of, variant_values
from mdrcds.facts.hgvs import MAX_DESCRIPTION, read_change
from mdrcds.knowledge.rulebook import Rulebook

LOINC = "http://loinc.org"


@pytest.mark.parametrize(
    ("text", "shown", "consequence"),
    [
        ("p.Arg130Ter", "p.Arg130Ter", "stop_gained"),
        ("R130*", "p.Arg130Ter", "stop_gained"),
        ("p.R130X", "p.Arg130Ter", "stop_gained"),  # the legacy stop letter
        ("Arg130Ter", "p.Arg130Ter", "stop_gained"),
        ("p.(Trp111*)", "p.(Trp111Ter)", "stop_gained"),
        ("NP_000305.3:p.Arg130Ter", "p.Arg130Ter", "stop_gained"),
        ("p.Met1?", "p.Met1?", "start_lost"),
        ("M1V", "p.Met1Val", "start_lost"),
        ("p.0", "p.0", "no_protein"),
        ("p.Arg130GlyfsTer4", "p.Arg130GlyfsTer4", "frameshift_variant"),
        ("K12Rfs*5", "p.Lys12ArgfsTer5", "frameshift_variant"),
        ("p.Glu7_Lys9del", "p.Glu7_Lys9del", "inframe_deletion"),
        ("E7del", "p.Glu7del", "inframe_deletion"),
        ("p.Lys6_Glu7insAla", "p.Lys6_Glu7insAla", "inframe_insertion"),
        ("p.Trp111delinsTer", "p.Trp111delinsTer", "stop_gained"),
        ("p.*400Qext*17", "p.Ter400GlnextTer17", "stop_lost"),
        ("V617F", "p.Val617Phe", "missense_variant"),
        ("p.(=)", "p.(=)", "synonymous_variant"),
        ("p.?", "p.?", None),
    ],
)
def test_protein_changes(text: str, shown: str, consequence: str | None) -> None:
    change = read_change(text, "p")
    assert change is not None
    assert (change.text, change.consequence) == (shown, consequence)


@pytest.mark.parametrize(
    ("text", "consequence"),
    [
        ("c.802-2A>G", "splice_acceptor_variant"),
        ("c.802-1G>A", "splice_acceptor_variant"),
        ("802+1G>A", "splice_donor_variant"),
        ("NM_000314.8:c.634+2T>C", "splice_donor_variant"),
        ("c.802+5G>A", None),  # outside the canonical site
        ("c.802-3C>T", None),
        ("c.1234_1235del", "frameshift_variant"),
        ("c.1234dup", "frameshift_variant"),
        ("c.1234_1235insA", "frameshift_variant"),
        ("c.1234delinsAT", "frameshift_variant"),
        ("c.1234_1236del", "inframe_deletion"),
        ("c.1234_1235insAAA", "inframe_insertion"),
        ("c.1234_1236delinsGGG", None),  # same length: a block substitution
        ("c.388C>T", None),  # the protein effect needs the transcript: reports give it as p.
        ("c.-5A>G", None),
        ("c.*12A>G", None),
    ],
)
def test_cdna_changes(text: str, consequence: str | None) -> None:
    change = read_change(text, "c")
    assert change is not None
    assert change.consequence == consequence


@pytest.mark.parametrize(
    "text",
    [
        "",
        "PTEN",
        "pathogenic",
        "c.388C>T p.R130*",
        "p." + "A" * MAX_DESCRIPTION,
        "\x00p.R130*",
        "R130*" * 100,
    ],
)
def test_what_is_not_one_description_is_not_read(text: str) -> None:
    assert read_change(text, "p") is None


def test_a_cdna_description_is_not_read_as_protein() -> None:
    assert read_change("c.388C>T", "p") is None
    assert read_change("p.Arg130Ter", "c") is None


def variant(*components: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Observation", "component": list(components)}


def component(code: str, **value: Any) -> dict[str, Any]:
    return {"code": {"coding": [{"system": LOINC, "code": code}]}, **value}


GENE = {"PTEN": "HGNC:9588", "B2M": "HGNC:914", "JAK1": "HGNC:6190", "JAK2": "HGNC:6192"}


def gene(symbol: str) -> dict[str, Any]:
    return component(
        "48018-6",
        valueCodeableConcept={"coding": [{"system": "http://www.genenames.org", "code": GENE[symbol]}]},
    )


@pytest.mark.parametrize(
    ("components", "verdict"),
    [
        ([component("48005-3", valueString="R130*")], "yes"),
        ([component("48004-6", valueCodeableConcept={"text": "c.1507C>T (p.Gln503*)"})], "yes"),
        ([component("48005-3", valueString="V617F")], "no"),
        (
            [component("62378-5", valueCodeableConcept={"coding": [{"system": LOINC, "code": "LA14034-5"}]})],
            "yes",
        ),
        (
            [component("62378-5", valueCodeableConcept={"coding": [{"system": LOINC, "code": "LA14033-7"}]})],
            "gain",
        ),
        ([component("82155-3", valueQuantity={"value": 0})], "yes"),
        ([component("82155-3", valueQuantity={"value": 1})], "unknown"),
        ([component("82155-3", valueQuantity={"value": -1})], "unknown"),
    ],
)
def test_consequences_from_reports(
    components: list[dict[str, Any]], verdict: str, rulebook: Rulebook
) -> None:
    assert annotation_of(variant(*components), rulebook.terminology).loss_of_function() == verdict


@pytest.mark.parametrize(
    ("symbol", "significance", "stated", "verdict"),
    [
        # tumour suppressors whose rule is about loss: pathogenic counts as loss unless a gain is stated
        ("PTEN", "pathogenic", [], "presumed"),
        ("B2M", "likely pathogenic", ["no"], "presumed"),
        ("PTEN", "pathogenic", ["gain"], "gain"),
        ("PTEN", "uncertain significance", [], "unknown"),
        ("B2M", "pathogenic", ["yes"], "yes"),
        # JAK1/JAK2 keep the explicit requirement: activating variants exist
        ("JAK1", "pathogenic", [], "unknown"),
        ("JAK2", "pathogenic", ["no"], "no"),
        ("JAK2", "pathogenic", ["yes"], "yes"),
    ],
)
def test_loss_policy_by_gene_role(
    symbol: str, significance: str, stated: list[str], verdict: str, rulebook: Rulebook
) -> None:
    values = variant_values(variant(gene(symbol)), rulebook.terminology)
    values["significance"] = significance
    assert loss_of_function(Annotation(consequences=set(stated)), values) == verdict


@pytest.mark.parametrize(
    ("components", "name"),
    [
        ([gene("PTEN"), component("48005-3", valueString="R130*")], "PTEN p.Arg130Ter"),
        (
            [
                gene("PTEN"),
                component("48005-3", valueString="p.(Arg130Ter)"),
                component("48004-6", valueString="c.388C>T"),
            ],
            "PTEN p.(Arg130Ter) (c.388C>T)",
        ),
        ([gene("JAK1"), component("82155-3", valueQuantity={"value": 0})], "JAK1 copy number 0"),
        (
            [gene("JAK2"), component("48005-3", valueString="an unreadable change")],
            "JAK2 an unreadable change",
        ),
    ],
)
def test_the_variant_is_named_for_the_card(
    components: list[dict[str, Any]], name: str, rulebook: Rulebook
) -> None:
    assert variant_values(variant(*components), rulebook.terminology)["variant_name"] == name
