"""Conditions in another context than 'the patient has it' (mdrcds.facts.conditions, facts.context):
codes outrank text, and text recognised by name is read by ConText."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mdrcds.facts.conditions import in_other_context, treatment_induced
from mdrcds.knowledge.terminology import Concept

NAMES = (
    "kidney transplant",
    "renal transplant",
    "rheumatoid arthritis",
    "coeliac disease",
    "deceased donor renal transplant",
)


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
        "Donor for kidney transplant",
        "Kidney transplant planned",
        "? rheumatoid arthritis",
        "Patient denies rheumatoid arthritis",
        "Possible rheumatoid arthritis",
        "At risk of rheumatoid arthritis",
    ],
)
def test_other_contexts(text: str) -> None:
    assert in_other_context(Concept((), text), NAMES, {}, by_code=False)


@pytest.mark.parametrize(
    "text",
    [
        "Kidney transplant recipient",
        "History of kidney transplant",
        "Status post renal transplant",
        "S/p living related donor kidney transplant",
        "Deceased donor renal transplant 2015, no rejection",
        "Living-donor kidney transplant (2019); no evidence of rejection",
        "Kidney transplant recipient, not on tacrolimus",
        "Rheumatoid arthritis",
        "Rheumatoid arthritis, seropositive, in remission",
        "Rheumatoid arthritis with no joint erosions",
        "Rheumatoid arthritis, not on DMARDs",
        "Rheumatoid arthritis. No flare.",
        "Coeliac disease, gluten-free diet",
        "Deceased donor renal transplant",
    ],
)
def test_the_patients_own_condition(text: str) -> None:
    assert not in_other_context(Concept((), text), NAMES, {}, by_code=False)


@pytest.mark.parametrize(
    "text",
    [
        "deceased donor",
        "kidney transplant donor",
        "no rejection",
        "not on DMARDs",
        "possible flare",
        "Family history of rheumatoid arthritis",
        "awaiting kidney transplant",
    ],
)
def test_a_coded_diagnosis_is_never_voided_by_its_text(text: str) -> None:
    # Codes outrank text: a Condition coded Z94.0 or a SNOMED RA concept whose free text says any of
    # these is still the patient's diagnosis (verificationStatus and category still apply).
    concept = Concept((("http://hl7.org/fhir/sid/icd-10-cm", "Z94.0", None),), text)
    assert not in_other_context(concept, NAMES, {}, by_code=True)


def test_category_family_history_or_screening() -> None:
    resource = {"category": [{"coding": [{"code": "health-concern"}], "text": "Health concern"}]}
    for by_code in (True, False):
        assert in_other_context(Concept((), "Rheumatoid arthritis"), NAMES, resource, by_code)
    problem = {"category": [{"coding": [{"code": "problem-list-item"}]}]}
    assert not in_other_context(Concept((), "Rheumatoid arthritis"), NAMES, problem, by_code=False)


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


def test_a_text_without_any_context_trigger_word_does_not_load_spacy() -> None:
    # The pre-check is a superset of ConText's triggers: a text without any of their words cannot be
    # modified, so the (slow to import) pipeline is neither run nor imported for it.
    code = (
        "import sys; from mdrcds.facts.context import voiding_context as v; "
        "assert v(['Kidney transplant recipient', 'Rheumatoid arthritis, seropositive'], "
        "['kidney transplant', 'rheumatoid arthritis']) is None; "
        "assert 'spacy' not in sys.modules; "
        "assert v(['No rheumatoid arthritis'], ['rheumatoid arthritis']) == 'NEGATED_EXISTENCE'; "
        "assert 'spacy' in sys.modules"
    )
    subprocess.run([sys.executable, "-W", "ignore", "-c", code], check=True, timeout=120)
