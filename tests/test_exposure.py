"""When a medication record counts as exposure (mdrcds.facts.exposure)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from mdrcds.facts.exposure import exposure_of

NOW = date(2026, 11, 23)


def request(status: str = "active", **extra: Any) -> dict[str, Any]:
    return {"resourceType": "MedicationRequest", "status": status, "authoredOn": "2026-11-01", **extra}


def days(value: float, code: str = "d") -> dict[str, Any]:
    return {"value": value, "code": code, "system": "http://unitsofmeasure.org"}


@pytest.mark.parametrize(
    ("resource", "look_back", "current"),
    [
        (request(), 0, True),
        (request("completed"), 0, False),
        (request("completed"), 30, True),
        (request("stopped", authoredOn="2026-03-01"), 290, True),
        (request("stopped", authoredOn="2025-01-01"), 290, False),
        (request(doNotPerform=True), 84, False),
        (request("cancelled"), 84, False),
        (request("entered-in-error"), 84, False),
        (request(dosageInstruction=[{"timing": {"repeat": {"boundsDuration": days(10)}}}]), 0, False),
        (request(dosageInstruction=[{"timing": {"repeat": {"boundsDuration": days(4, "wk")}}}]), 0, True),
        (request(dispenseRequest={"expectedSupplyDuration": days(7)}), 0, False),
        (request(dispenseRequest={"expectedSupplyDuration": days(7), "numberOfRepeatsAllowed": 3}), 0, True),
        (
            {
                "resourceType": "MedicationAdministration",
                "status": "completed",
                "effectiveDateTime": "2026-11-11",
            },
            84,
            True,
        ),
        (
            {
                "resourceType": "MedicationAdministration",
                "status": "not-done",
                "effectiveDateTime": "2026-11-22",
            },
            84,
            False,
        ),
        (
            {
                "resourceType": "MedicationAdministration",
                "status": "completed",
                "occurenceDateTime": "2026-11-22",
            },
            0,
            False,
        ),
        (
            {
                "resourceType": "MedicationStatement",
                "status": "recorded",
                "effectivePeriod": {"start": "2026-01-01"},
            },
            0,
            True,
        ),
    ],
)
def test_current_exposure(resource: dict[str, Any], look_back: int, current: bool) -> None:
    assert exposure_of(resource).current(NOW, look_back) is current


def test_course_length_from_bounds_and_count() -> None:
    bounded = request(
        dosageInstruction=[
            {"timing": {"repeat": {"boundsPeriod": {"start": "2026-11-22", "end": "2026-11-24"}}}}
        ]
    )
    assert exposure_of(bounded).course_days == 3
    once = request(
        dosageInstruction=[
            {"timing": {"repeat": {"count": 1, "frequency": 1, "period": 1, "periodUnit": "d"}}}
        ]
    )
    assert exposure_of(once).course_days == 1
    open_ended = request()
    assert exposure_of(open_ended).course_days is None


def test_malformed_shapes_are_not_read() -> None:
    odd = request(
        dosageInstruction="BID", dispenseRequest={"expectedSupplyDuration": {"value": "7", "unit": "d"}}
    )
    exposure = exposure_of(odd)
    assert exposure.end is None and exposure.current(NOW, 0)
    huge = request(dosageInstruction=[{"timing": {"repeat": {"boundsDuration": days(1e12)}}}])
    assert exposure_of(huge).end is None


def test_absurd_numbers_are_not_read() -> None:
    endless = request(dosageInstruction=[{"timing": {"repeat": {"boundsDuration": days(1e308, "a")}}}])
    assert exposure_of(endless).end is None
    negative = request(dispenseRequest={"expectedSupplyDuration": days(-5)})
    assert exposure_of(negative).end is None


def test_r5_administration_occurrence_period() -> None:
    given = {
        "resourceType": "MedicationAdministration",
        "status": "completed",
        "occurencePeriod": {"start": "2026-11-10T09:00:00Z", "end": "2026-11-10T10:00:00Z"},
    }
    exposure = exposure_of(given)
    assert exposure.start == exposure.end == date(2026, 11, 10)
    assert exposure.current(NOW, 84) and not exposure.current(NOW, 0)
