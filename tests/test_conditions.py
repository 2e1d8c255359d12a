"""Conditions in another context than 'the patient has it' (mdrcds.facts.conditions)."""

from __future__ import annotations

import pytest

from mdrcds.facts.conditions import in_other_context, treatment_induced
from mdrcds.knowledge.terminology import Concept

NAMES = ("kidney transplant", "renal transplant", "rheumatoid arthritis")


@pytest.mark.parametrize(
    "text",
    [
        "Awaiting kidney transplant",
        "Kidney transplant candidate",
        "Evaluation for renal transplant",
        "Family history of rheumatoid arthritis",
        "FH: rheumatoid arthritis",
        "Mother has rheumatoid arthritis",
        "Rheumatoid arthritis in mother",
        "Rule out rheumatoid arthritis",
        "Rheumatoid arthritis ruled out",
        "No evidence of rheumatoid arthritis",
        "Suspected rheumatoid arthritis",
        "Screening for rheumatoid arthritis",
        "Kidney transplant donor",
        "Living kidney donor",
        "Kidney transplant planned",
    ],
)
def test_other_contexts(text: str) -> None:
    assert in_other_context(Concept((), text), NAMES)


@pytest.mark.parametrize(
    "text",
    [
        "Kidney transplant recipient",
        "History of kidney transplant",
        "Status post renal transplant",
        "Rheumatoid arthritis",
        "Rheumatoid arthritis, seropositive, in remission",
        "Rheumatoid arthritis with no joint erosions",
    ],
)
def test_the_patients_own_condition(text: str) -> None:
    assert not in_other_context(Concept((), text), NAMES)


def test_category_family_history_or_screening() -> None:
    resource = {"category": [{"coding": [{"code": "health-concern"}], "text": "Health concern"}]}
    assert in_other_context(Concept((), "Rheumatoid arthritis"), NAMES, resource)
    problem = {"category": [{"coding": [{"code": "problem-list-item"}]}]}
    assert not in_other_context(Concept((), "Rheumatoid arthritis"), NAMES, problem)


@pytest.mark.parametrize(
    ("text", "induced"),
    [
        ("Type 1 diabetes mellitus due to immune checkpoint inhibitor", True),
        ("Immune-related hypothyroidism", True),
        ("Pembrolizumab-induced colitis", True),
        ("Type 1 diabetes mellitus", False),
    ],
)
def test_treatment_induced(text: str, induced: bool) -> None:
    assert treatment_induced(Concept((), text)) is induced
