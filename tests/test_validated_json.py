"""The memory of resource JSON already found valid (mdrcds.reading.validated): the same JSON is not
validated twice, and nothing that is not valid ever passes because of it."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from conftest import medication_request
from mdrcds.errors import FhirValidationError
from mdrcds.reading import fhir
from mdrcds.reading.validated import ValidatedJson


@pytest.fixture
def model_lookups(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Fresh memories for both model packages, and a list of the resource types actually validated."""
    monkeypatch.setattr(fhir, "_VALID", {package: ValidatedJson() for package in fhir._VALID})
    looked_up: list[str] = []
    original = fhir._model_class

    def counting(package: str, resource_type: str) -> Any:
        looked_up.append(resource_type)
        return original(package, resource_type)

    monkeypatch.setattr(fhir, "_model_class", counting)
    return looked_up


def order(**extra: Any) -> dict[str, Any]:
    return medication_request("m1", "active", text="verapamil", **extra)


def test_the_same_valid_json_is_validated_once(model_lookups: list[str]) -> None:
    validate = fhir.validator("R4")
    validate(order())
    validate(order())
    fhir.validator("R4")(order())  # another validator of the same version shares the memory
    assert model_lookups == ["MedicationRequest"]
    validate(order(authoredOn="2026-11-01"))  # other JSON: validated on its own
    assert model_lookups == ["MedicationRequest", "MedicationRequest"]


def test_invalid_json_is_refused_every_time(model_lookups: list[str]) -> None:
    validate = fhir.validator("R4")
    bad = order(authoredOn="2026-13-45")
    for _ in range(2):
        with pytest.raises(FhirValidationError, match="authoredOn"):
            validate(bad)
    assert model_lookups == ["MedicationRequest", "MedicationRequest"]


def test_a_remembered_resource_changed_into_an_invalid_one_is_refused(model_lookups: list[str]) -> None:
    validate = fhir.validator("R4")
    good = order(dosageInstruction=[{"doseAndRate": [{"doseQuantity": {"value": 10, "unit": "mg"}}]}])
    validate(good)
    bad = copy.deepcopy(good)
    bad["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] = "ten"
    with pytest.raises(FhirValidationError, match=r"doseQuantity\.value"):
        validate(bad)
    validate(good)  # still remembered
    assert model_lookups == ["MedicationRequest", "MedicationRequest"]


def test_json_that_cannot_be_written_again_is_validated_each_time(model_lookups: list[str]) -> None:
    validate = fhir.validator("R4")
    huge = order(dispenseRequest={"numberOfRepeatsAllowed": 2**70})  # past 64 bits: no key
    outcomes = []
    for _ in range(2):
        try:
            validate(huge)
            outcomes.append("valid")
        except FhirValidationError:
            outcomes.append("invalid")
    assert outcomes[0] == outcomes[1]
    assert model_lookups == ["MedicationRequest", "MedicationRequest"]


def test_the_memory_keeps_within_its_budget_and_forgets_the_oldest_first() -> None:
    memory = ValidatedJson(budget=100)
    keys = [bytes([65 + n]) * 30 for n in range(10)]
    for key in keys:
        memory.add(key)
        assert memory.size <= 100
    assert len(memory) == 3 and memory.size == 90
    assert keys[-1] in memory and keys[-3] in memory and keys[-4] not in memory and keys[0] not in memory
    memory.add(b"x" * 101)  # larger than the whole budget: not kept, nothing evicted for it
    assert b"x" * 101 not in memory and keys[-1] in memory
    memory.add(keys[-1])  # already there: counted once
    assert memory.size == 90
