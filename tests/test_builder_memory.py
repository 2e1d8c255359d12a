"""What the fact builder works out once per distinct drug concept (its value sets, its route per dosage)
changes no fact: every sample input gives the same facts read from raw bytes (where the builder
remembers by the raw concept) as read from parsed JSON (where it cannot), and records that share a
concept but not a dosage, or that name a Medication resource, keep their own route."""

from __future__ import annotations

from datetime import date
from typing import Any

import orjson
import pytest

from conftest import NOW, bundle, medication_request
from mdrcds.facts.builder import extract_facts
from mdrcds.facts.model import Fact
from mdrcds.knowledge.rulebook import Rulebook
from mdrcds.reading.fhir import read_bytes, read_input, validator
from test_screen import SAMPLE_INPUTS

SNOMED = "http://snomed.info/sct"
OPHTHALMIC = {"coding": [{"system": SNOMED, "code": "54485002"}]}
ORAL = {"coding": [{"system": SNOMED, "code": "26643006"}]}


def facts_of(rulebook: Rulebook, data: bytes, now: date = NOW, *, raw: bool) -> list[Fact]:
    fhir_input = read_bytes(data) if raw else read_input(orjson.loads(data))
    return extract_facts(fhir_input, rulebook.terminology, now, validator("R4")).facts


@pytest.mark.parametrize(
    ("name", "data", "now"),
    [(name, data, now) for name, data, now, version in SAMPLE_INPUTS if version == "R4"],
    ids=[name for name, _, _, version in SAMPLE_INPUTS if version == "R4"],
)
def test_remembering_by_raw_concept_changes_no_fact(
    rulebook: Rulebook, name: str, data: bytes, now: date
) -> None:
    try:
        from_json = facts_of(rulebook, data, now, raw=False)
    except Exception as exc:  # a golden case of invalid input: both readings must refuse it alike
        with pytest.raises(type(exc)):
            facts_of(rulebook, data, now, raw=True)
        return
    assert facts_of(rulebook, data, now, raw=True) == from_json


def cyclosporine(resource_id: str, **extra: Any) -> dict[str, Any]:
    # cycloSPORINE is a P-gp inhibitor: route decides whether its fact is systemic.
    return medication_request(resource_id, "active", text="cycloSPORINE 100 MG", **extra)


def systemic_by_source(rulebook: Rulebook, resources: list[dict[str, Any]]) -> dict[str, bool]:
    facts = facts_of(rulebook, orjson.dumps(bundle(resources)), raw=True)
    return {
        fact.source: bool(fact.attributes["systemic"]) for fact in facts if fact.value_set == "pgp-inhibitor"
    }


def test_one_concept_with_two_dosages_keeps_two_routes(rulebook: Rulebook) -> None:
    resources = [
        cyclosporine("oral-1", dosageInstruction=[{"route": ORAL}]),
        cyclosporine("eye-1", dosageInstruction=[{"route": OPHTHALMIC}]),
        cyclosporine("oral-2", dosageInstruction=[{"route": ORAL}]),
        cyclosporine("eye-2", dosageInstruction=[{"text": "1 drop in each eye at night"}]),
    ]
    assert systemic_by_source(rulebook, resources) == {
        "MedicationRequest/oral-1": True,
        "MedicationRequest/eye-1": False,
        "MedicationRequest/oral-2": True,
        "MedicationRequest/eye-2": False,
    }


def test_a_record_naming_a_medication_resource_is_worked_out_on_its_own(rulebook: Rulebook) -> None:
    drops = {
        "resourceType": "Medication",
        "id": "drops",
        "code": {"text": "cycloSPORINE 100 MG"},
        "form": {"text": "Ophthalmic emulsion"},
    }
    # the same drug, named through a Medication whose dose form is ophthalmic
    resolved = cyclosporine("resolved-1", medicationReference={"reference": "Medication/drops"})
    del resolved["medicationCodeableConcept"]
    resources = [
        cyclosporine("named-1"),
        resolved,
        drops,
        cyclosporine("named-2"),
    ]
    assert systemic_by_source(rulebook, resources) == {
        "MedicationRequest/named-1": True,
        "MedicationRequest/resolved-1": False,
        "MedicationRequest/named-2": True,
    }


def test_a_coded_concept_is_remembered_apart_from_its_text(rulebook: Rulebook) -> None:
    # RxNorm 11170 is verapamil (shared/knowledge/codes.csv); the same text with no code is not it.
    coded = medication_request("coded", "active", code="11170", display="verapamil", text="heart pill")
    plain = medication_request("plain", "active", text="heart pill")
    facts = facts_of(rulebook, orjson.dumps(bundle([coded, plain, dict(coded, id="coded-2")])), raw=True)
    assert sorted(f.source for f in facts if f.member == "verapamil") == [
        "MedicationRequest/coded",
        "MedicationRequest/coded-2",
    ]
