"""The resource screen (mdrcds.facts.screen): resources dismissed while reading change no answer.

Reading with the screen must give exactly what reading without it gives (facts, cards, counts) on every
sample input, and the screen must keep what comes after reading needs: draft orders, another patient's
resources (counted by keep_patient), body weights, records naming a Medication resource."""

from __future__ import annotations

import importlib
import json
from datetime import date
from typing import Any

import orjson
import pytest

from conftest import NOW, RXNORM, SAMPLES, bundle, hook_request, medication_request
from mdrcds.errors import EvaluationLimitError, FhirValidationError
from mdrcds.facts.screen import screen_for
from mdrcds.knowledge.rulebook import Rulebook, load_rulebook
from mdrcds.reading.fhir import (
    _READ_TYPES,
    _WITHOUT_STATUS,
    FhirInput,
    drop_unadvertised_prefetch,
    keep_patient,
    read_bytes,
)
from mdrcds.reading.population import records
from mdrcds.reading.prefetch import PREFETCH_TEMPLATES
from mdrcds.reasoning.engine import Engine
from mdrcds.service import Evaluation, Limits, evaluate_input

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"


def sample_inputs() -> list[tuple[str, bytes, date, str]]:
    """Every golden case, every Synthea bundle and every patient of the Bulk export."""
    found: list[tuple[str, bytes, date, str]] = []
    for expected_file in sorted(SAMPLES.glob("*/expected.json")):
        expected = json.loads(expected_file.read_text())
        request = expected_file.with_name("request.json").read_bytes()
        now = date.fromisoformat(expected.get("now", NOW.isoformat()))
        found.append((expected_file.parent.name, request, now, expected.get("fhir_version", "R4")))
    for path in sorted((SAMPLES / "synthea").glob("*.json")):
        found.append((path.name, path.read_bytes(), NOW, "R4"))
    for number, record in enumerate(records([SAMPLES / "bulk"], [])):
        found.append((f"bulk-{number}", record.document, NOW, "R4"))
    return found


SAMPLE_INPUTS = sample_inputs()


def screened_read(rulebook: Rulebook, data: bytes, **options: Any) -> FhirInput:
    """Read twice with the screen: the first reading classifies each code (the screen's own path),
    the second dismisses by the codes it learnt (the reader's path). Both must keep the same."""
    readings = [read_bytes(data, screen=screen_for(rulebook.terminology), **options) for _ in range(2)]
    first, second = ([r.reference() for r in reading.resources] for reading in readings)
    assert first == second and readings[0].screened == readings[1].screened
    return readings[1]


def run(
    rulebook: Rulebook, engine: Engine, data: bytes, now: date = NOW, *, screened: bool, **kw: Any
) -> Any:
    fhir_input = read_bytes(data, screen=screen_for(rulebook.terminology) if screened else None)
    return evaluate_input(fhir_input, rulebook=rulebook, engine=engine, now=now, include_research=True, **kw)


def outcome(evaluation: Evaluation) -> dict[str, Any]:
    return {
        "cards": evaluation.cards,
        "facts": evaluation.facts.facts,
        "read": evaluation.facts.resources_read,
        "validated": evaluation.facts.resources_validated,
        "deferred": evaluation.facts.resources_deferred,
        "skipped": evaluation.skipped_resources,
    }


def test_the_samples_cover_records_the_screen_thins_out(rulebook: Rulebook) -> None:
    screen = screen_for(rulebook.terminology)
    screened = sum(sum(read_bytes(data, screen=screen).screened.values()) for _, data, _, _ in SAMPLE_INPUTS)
    assert len(SAMPLE_INPUTS) > 200 and screened > 5000


@pytest.mark.parametrize("name,data,now,version", SAMPLE_INPUTS, ids=[s[0] for s in SAMPLE_INPUTS])
def test_screened_reading_gives_the_same_answer(
    rulebook: Rulebook, engine: Engine, name: str, data: bytes, now: date, version: Any
) -> None:
    plain = run(rulebook, engine, data, now, screened=False, fhir_version=version)
    screened = run(rulebook, engine, data, now, screened=True, fhir_version=version)
    assert outcome(screened) == outcome(plain)


def weight(resource_id: str, kg: float) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": resource_id,
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "29463-7", "display": "Body weight"}]},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2026-11-01",
        "valueQuantity": {"value": kg, "unit": "kg", "code": "kg"},
    }


def irrelevant_order(resource_id: str, status: str = "active", **extra: Any) -> dict[str, Any]:
    # Acetaminophen 325 MG Oral Tablet: in no value set of the rulebook.
    return medication_request(
        resource_id, status, code="313782", display="Acetaminophen 325 MG Oral Tablet", **extra
    )


def test_body_weights_are_kept_for_weight_based_doses(rulebook: Rulebook, engine: Engine) -> None:
    data = orjson.dumps(bundle([weight("w1", 70), irrelevant_order("m1")]))
    run(rulebook, engine, data, screened=True)  # the builder remembers the weight's code: no value set
    fhir_input = screened_read(rulebook, data)
    assert [r.resource_type for r in fhir_input.resources] == ["Observation"]
    assert fhir_input.screened == {"$": 1} and fhir_input.resource_count == 2


def test_an_invalid_draft_order_of_an_irrelevant_drug_is_still_validated(
    rulebook: Rulebook, engine: Engine
) -> None:
    draft = irrelevant_order("d1", "draft", dosageInstruction="twice daily")  # must be a list of Dosage
    data = orjson.dumps(bundle([draft], "collection"))
    irrelevant_order_first = orjson.dumps(bundle([irrelevant_order("d0")], "collection"))
    screened_read(rulebook, irrelevant_order_first)  # the screen has now learnt acetaminophen
    for screened in (False, True):
        if screened:
            fhir_input = screened_read(rulebook, data, default_hook="order-sign")
        else:
            fhir_input = read_bytes(data, default_hook="order-sign")
        assert fhir_input.screened == {}
        with pytest.raises(FhirValidationError):
            evaluate_input(fhir_input, rulebook=rulebook, engine=engine, now=NOW)


def test_the_hooks_draft_orders_are_never_screened_from_prefetch(rulebook: Rulebook) -> None:
    order = irrelevant_order("d1", "active")
    # Beside the draft's own copy, other orders of the same drug (one with no id) are screened as ever.
    no_id = irrelevant_order("x", "active")
    del no_id["id"]
    request = hook_request(
        "order-sign", drafts=[order], prefetch=[order, irrelevant_order("d2", "active"), no_id]
    )
    fhir_input = screened_read(rulebook, orjson.dumps(request))
    assert fhir_input.screened == {"prefetch.medicationRequests": 2}
    assert sum(r.reference() == "MedicationRequest/d1" for r in fhir_input.resources) == 2


def test_another_patients_resources_are_left_for_keep_patient_to_count(rulebook: Rulebook) -> None:
    mine = irrelevant_order("m1")
    theirs = irrelevant_order("m2", subject={"reference": "Patient/someone-else"})
    request = hook_request("patient-view", prefetch=[mine, theirs])
    fhir_input = screened_read(rulebook, orjson.dumps(request))
    assert fhir_input.screened == {"prefetch.medicationRequests": 1}
    assert keep_patient(fhir_input, "p1") == 1
    assert [r.resource_type for r in fhir_input.resources] == ["Patient"]
    assert fhir_input.resource_count == 2  # the Patient and m1, screened


def test_unadvertised_prefetch_keys_take_their_screened_counts_with_them(rulebook: Rulebook) -> None:
    request = hook_request("patient-view", prefetch=[irrelevant_order("m1")])
    request["prefetch"]["extra"] = bundle([irrelevant_order("m2")])
    fhir_input = screened_read(rulebook, orjson.dumps(request))
    assert fhir_input.screened == {"prefetch.medicationRequests": 1, "prefetch.extra": 1}
    assert drop_unadvertised_prefetch(fhir_input, PREFETCH_TEMPLATES) == 1
    assert fhir_input.screened == {"prefetch.medicationRequests": 1}
    assert fhir_input.resource_count == 2  # the Patient and m1


def verapamil_medication() -> dict[str, Any]:
    """Medication/med1: verapamil (RxNorm 11170), a P-gp inhibitor."""
    return {
        "resourceType": "Medication",
        "id": "med1",
        "code": {"coding": [{"system": RXNORM, "code": "11170", "display": "verapamil"}]},
    }


def test_a_record_naming_a_medication_resource_is_resolved_not_screened(
    rulebook: Rulebook, engine: Engine
) -> None:
    # The Medication resource names verapamil (a P-gp inhibitor): the record is kept and the fact
    # comes from the Medication.
    medication = verapamil_medication()
    order = irrelevant_order("m1")
    del order["medicationCodeableConcept"]
    order["medicationReference"] = {"reference": "Medication/med1"}
    data = orjson.dumps(bundle([medication, order]))
    assert screened_read(rulebook, data).screened == {}
    plain = run(rulebook, engine, data, screened=False)
    assert outcome(run(rulebook, engine, data, screened=True)) == outcome(plain)
    assert any(f.member == "verapamil" for f in plain.facts.facts)


def test_a_record_hiding_a_reference_behind_an_irrelevant_concept_is_named_invalid(
    rulebook: Rulebook, engine: Engine
) -> None:
    # Hostile: medication[x] twice, an irrelevant concept and a reference to verapamil. Not screened
    # away on the concept: the record is read, and the validator names the defect, with or without
    # the screen.
    medication = verapamil_medication()
    order = irrelevant_order("m1", medicationReference={"reference": "Medication/med1"})
    data = orjson.dumps(bundle([medication, order]))
    for screened in (False, True):
        with pytest.raises(FhirValidationError, match="medicationReference"):
            run(rulebook, engine, data, screened=screened)


def test_positional_names_do_not_move_when_resources_are_screened(rulebook: Rulebook) -> None:
    unnamed = medication_request("x", "active", code="11170", display="verapamil")
    del unnamed["id"]
    data = orjson.dumps(bundle([irrelevant_order("m1"), unnamed]))
    names = [
        [r.reference() for r in read_bytes(data, screen=screen).resources]
        for screen in (None, screen_for(rulebook.terminology))
    ]
    assert names[0][-1] == names[1][-1] == "MedicationRequest/#1"


def test_screened_resources_count_towards_the_resource_limit(rulebook: Rulebook, engine: Engine) -> None:
    data = orjson.dumps(bundle([irrelevant_order(f"m{n}") for n in range(30)]))
    fhir_input = screened_read(rulebook, data)
    assert fhir_input.resources == [] and fhir_input.resource_count == 30
    with pytest.raises(EvaluationLimitError, match="30 resources"):
        evaluate_input(fhir_input, rulebook=rulebook, engine=engine, now=NOW, limits=Limits(max_resources=20))


def condition(resource_id: str, code: str, display: str) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": resource_id,
        "subject": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": SNOMED, "code": code, "display": display}]},
    }


def test_a_coded_condition_in_a_value_set_is_kept_and_one_outside_is_screened(rulebook: Rulebook) -> None:
    # Rheumatoid arthritis (autoimmune-disease value set); viral sinusitis, as Synthea codes it.
    arthritis = condition("c1", "69896004", "Rheumatoid arthritis")
    sinusitis = condition("c2", "444814009", "Viral sinusitis (disorder)")
    fhir_input = screened_read(rulebook, orjson.dumps(bundle([arthritis, sinusitis])))
    assert [r.reference() for r in fhir_input.resources] == ["Condition/c1"]
    assert fhir_input.screened == {"$": 1}


def test_a_draft_is_kept_whichever_way_its_status_is_asked_for(rulebook: Rulebook) -> None:
    # FHIR defines no Condition.status: the reader asks a Condition for one from the listing of its names
    # (an absent key costs simdjson an exception), a MedicationRequest by key. Either way a resource
    # saying "draft" is not dismissed by a learnt code, and one without a status is.
    sinusitis = condition("c1", "444814009", "Viral sinusitis (disorder)")
    drafts = [{**sinusitis, "id": "c2", "status": "draft"}, irrelevant_order("m2", "draft")]
    fhir_input = screened_read(rulebook, orjson.dumps(bundle([sinusitis, irrelevant_order("m1"), *drafts])))
    assert [r.reference() for r in fhir_input.resources] == ["Condition/c2", "MedicationRequest/m2"]
    assert fhir_input.screened == {"$": 2}


@pytest.mark.parametrize("package", ["fhir.resources.R4B", "fhir.resources"], ids=["R4", "R5"])
def test_the_types_read_without_a_status_are_those_fhir_defines_so(package: str) -> None:
    models = importlib.import_module(package)
    defined = {t for t in _READ_TYPES if "status" not in models.get_fhir_model_class(t).model_fields}
    assert defined == _WITHOUT_STATUS


def test_a_cold_screen_gives_the_answer_a_warm_one_gives(rulebook: Rulebook, engine: Engine) -> None:
    # A fresh rulebook's terminology remembers no code yet: the screen classifies each code itself the
    # first time, and dismisses by the remembered raw code after.
    fresh = load_rulebook()
    for _, data, now, _ in [s for s in SAMPLE_INPUTS if s[0] in ("bulk-0", "bulk-4")]:
        cold = outcome(run(fresh, engine, data, now, screened=True))
        assert outcome(run(fresh, engine, data, now, screened=True)) == cold
        assert outcome(run(rulebook, engine, data, now, screened=False)) == cold
