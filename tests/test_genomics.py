"""Variant presence, significance and loss of function (mdrcds.facts.genomics) with the real rulebook."""

from __future__ import annotations

from typing import Any

import pytest

from mdrcds.facts.genomics import annotation_of, presence_of
from mdrcds.knowledge.rulebook import Rulebook

LOINC = "http://loinc.org"
TBD = "http://hl7.org/fhir/uv/genomics-reporting/CodeSystem/tbd-codes-cs"


def component(system: str, code: str, value: dict[str, Any]) -> dict[str, Any]:
    return {"code": {"coding": [{"system": system, "code": code}]}, **value}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"valueCodeableConcept": {"coding": [{"system": LOINC, "code": "LA9633-4"}]}}, "present"),
        ({"valueCodeableConcept": {"coding": [{"system": LOINC, "code": "LA9634-2"}]}}, "absent"),
        ({"valueCodeableConcept": {"text": "Not detected"}}, "absent"),
        ({"valueString": "Negative"}, "absent"),
        ({"valueCodeableConcept": {"text": "No call"}}, "indeterminate"),
        ({"valueCodeableConcept": {"text": "Detected"}}, "present"),
        ({}, "present"),
    ],
)
def test_presence(value: dict[str, Any], expected: str, rulebook: Rulebook) -> None:
    assert presence_of(value, rulebook.terminology)[0] == expected


@pytest.mark.parametrize(
    ("components", "loss"),
    [
        (
            [
                component(
                    TBD,
                    "molecular-consequence",
                    {
                        "valueCodeableConcept": {
                            "coding": [{"system": "http://www.sequenceontology.org", "code": "SO:0001587"}]
                        }
                    },
                )
            ],
            "yes",
        ),
        (
            [
                component(
                    TBD,
                    "functional-effect",
                    {
                        "valueCodeableConcept": {
                            "coding": [{"system": "http://www.sequenceontology.org", "code": "SO_0002054"}]
                        }
                    },
                )
            ],
            "yes",
        ),
        (
            [
                component(
                    TBD, "feature-consequence", {"valueCodeableConcept": {"text": "splice_acceptor_variant"}}
                )
            ],
            "yes",
        ),
        (
            [
                component(
                    TBD,
                    "molecular-consequence",
                    {
                        "valueCodeableConcept": {
                            "coding": [{"system": "http://www.sequenceontology.org", "code": "SO:0001583"}]
                        }
                    },
                )
            ],
            "no",
        ),
        (
            [
                component(
                    LOINC,
                    "48005-3",
                    {"valueCodeableConcept": {"coding": [{"code": "NP_004963.1:p.Val617Phe"}]}},
                )
            ],
            "no",
        ),
        (
            [component(LOINC, "48005-3", {"valueCodeableConcept": {"coding": [{"code": "p.(Gln590Ter)"}]}})],
            "yes",
        ),
        ([component(LOINC, "48005-3", {"valueCodeableConcept": {"text": "p.R213*"}})], "yes"),
        ([component(LOINC, "48005-3", {"valueCodeableConcept": {"text": "p.Lys12Argfs*5"}})], "yes"),
        ([component(LOINC, "48004-6", {"valueCodeableConcept": {"text": "c.1234+1G>A"}})], "yes"),
        ([component(LOINC, "48006-1", {"valueCodeableConcept": {"text": "Nonsense"}})], "yes"),
        ([], "unknown"),
    ],
)
def test_loss_of_function(components: list[dict[str, Any]], loss: str, rulebook: Rulebook) -> None:
    assert annotation_of({"component": components}, rulebook.terminology).loss_of_function() == loss


@pytest.mark.parametrize(
    ("value", "significance"),
    [
        ({"valueCodeableConcept": {"coding": [{"system": LOINC, "code": "LA6668-3"}]}}, "pathogenic"),
        ({"valueCodeableConcept": {"text": "Likely pathogenic"}}, "likely pathogenic"),
        ({"valueString": "PATHOGENIC"}, "pathogenic"),
        ({"valueString": "Non-pathogenic"}, "benign"),
        ({"valueString": "Variant of uncertain significance"}, "uncertain significance"),
    ],
)
def test_significance_as_code_or_text(value: dict[str, Any], significance: str, rulebook: Rulebook) -> None:
    note = annotation_of({"component": [component(LOINC, "53037-8", value)]}, rulebook.terminology)
    assert note.significance == significance
