"""Route and site from everything a medication record says (mdrcds.facts.route): codes outrank text,
and a record that states nothing counts as systemic."""

from __future__ import annotations

from typing import Any

import pytest

from mdrcds.facts.route import route_of
from mdrcds.knowledge.rulebook import Rulebook
from mdrcds.knowledge.terminology import Concept

SNOMED = "http://snomed.info/sct"
OPHTHALMIC = {"coding": [{"system": SNOMED, "code": "54485002"}]}
ORAL = {"coding": [{"system": SNOMED, "code": "26643006"}]}
PRODUCT = [Concept((), "cycloSPORINE 100 MG")]


def systemic(
    rulebook: Rulebook, instructions: list[dict[str, Any]], form: str | None = None
) -> tuple[bool, bool]:
    medication = {"resourceType": "Medication", "form": {"text": form}} if form else None
    route = route_of(rulebook.terminology, PRODUCT, instructions, medication, {})
    return route.systemic, route.stated


@pytest.mark.parametrize(
    "instruction",
    [
        {"route": OPHTHALMIC},
        {"route": {"text": "Ophthalmic"}},
        {"text": "Instill 1 drop into both eyes twice daily"},
        {"patientInstruction": "1 drop in each eye at night"},
        {"site": {"text": "Left eye"}},
        {"site": {"text": "Right ear"}},
        {"text": "Apply topically to affected area twice daily"},
        {"method": {"text": "Inhale"}},
        {"text": "2 puffs by inhalation every 12 hours"},
        {"text": "1 spray in each nostril"},
    ],
)
def test_non_systemic_use_is_read_from_every_field(rulebook: Rulebook, instruction: dict[str, Any]) -> None:
    assert systemic(rulebook, [instruction]) == (False, True)


def test_the_dose_form_is_read(rulebook: Rulebook) -> None:
    assert systemic(rulebook, [], form="Ophthalmic emulsion") == (False, True)


@pytest.mark.parametrize(
    "instruction",
    [
        {"route": ORAL, "text": "stop if eye pain"},  # codes outrank text
        {"route": ORAL, "site": {"text": "eye"}},
        {"text": "Take 1 capsule by mouth twice daily"},
        {"text": "100 mg OD"},  # 'OD' is not read as 'right eye': it also means once daily
        {"text": "Take with food; may cause dry eyes"},  # a side effect, not a site
    ],
)
def test_systemic_use_stays_systemic(rulebook: Rulebook, instruction: dict[str, Any]) -> None:
    assert systemic(rulebook, [instruction])[0] is True


def test_a_record_that_states_no_route_counts_as_systemic_and_says_so(rulebook: Rulebook) -> None:
    assert systemic(rulebook, []) == (True, False)
    assert systemic(rulebook, [{"text": "twice daily"}]) == (True, False)
    assert systemic(rulebook, [{"route": ORAL}]) == (True, True)
