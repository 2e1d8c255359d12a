from __future__ import annotations

from typing import Any

import pytest

from mdrcds.dosage import daily_dose_mg


def dosage(value: float, unit: str = "mg", **repeat: Any) -> dict[str, Any]:
    d: dict[str, Any] = {"doseAndRate": [{"doseQuantity": {"value": value, "unit": unit}}]}
    if repeat:
        d["timing"] = {"repeat": repeat}
    return d


@pytest.mark.parametrize(
    ("dosages", "expected"),
    [
        ([dosage(10, frequency=1, period=1, periodUnit="d")], 10.0),
        ([dosage(5, frequency=2, period=1, periodUnit="d")], 10.0),
        ([dosage(4, frequency=1, period=8, periodUnit="h")], 12.0),
        ([dosage(70, frequency=1, period=1, periodUnit="wk")], 10.0),
        ([dosage(0.5, unit="g")], 500.0),
        ([dosage(10, frequency=1, period=1, periodUnit="d"), dosage(5)], 15.0),
    ],
)
def test_daily_dose(dosages: list[dict[str, Any]], expected: float) -> None:
    assert daily_dose_mg(dosages) == expected


def test_taper_counts_only_the_first_step() -> None:
    first = dict(dosage(40), sequence=1)
    second = dict(dosage(20), sequence=2)
    assert daily_dose_mg([first, second]) == 40.0


@pytest.mark.parametrize(
    "dosages",
    [
        [],
        [{"text": "as directed"}],
        [dosage(2, unit="mL")],
        [dict(dosage(10), asNeededBoolean=True)],
        [dosage(10, frequency=1, period=1, periodUnit="mo")],
    ],
)
def test_not_computable(dosages: list[dict[str, Any]]) -> None:
    assert daily_dose_mg(dosages) is None
