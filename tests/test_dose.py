from __future__ import annotations

from typing import Any

import pytest

from mdrcds.facts.dose import daily_dose, strength_from_ingredient, strength_from_name


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
    assert daily_dose(dosages).mg == expected


def test_taper_counts_only_the_first_step() -> None:
    first = dict(dosage(40), sequence=1)
    second = dict(dosage(20), sequence=2)
    assert daily_dose([first, second]).mg == 40.0


@pytest.mark.parametrize(
    "dosages",
    [
        [],
        [{"text": "as directed"}],
        [dosage(2, unit="mL")],
        [dict(dosage(10), asNeededBoolean=True)],
        [dosage(10, frequency=1, period=1, periodUnit="fortnight")],
    ],
)
def test_not_computable(dosages: list[dict[str, Any]]) -> None:
    assert daily_dose(dosages).mg is None


@pytest.mark.parametrize(
    ("code", "per_day"),
    [
        ("BID", 2.0),
        ("TID", 3.0),
        ("QID", 4.0),
        ("QD", 1.0),
        ("QOD", 0.5),
        ("Q6H", 4.0),
        ("Q12H", 2.0),
        ("Q8H", 3.0),
    ],
)
def test_timing_codes(code: str, per_day: float) -> None:
    dosage = {
        "timing": {"code": {"coding": [{"code": code}]}},
        "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "mg"}}],
    }
    assert daily_dose([dosage]).mg == per_day


def test_strength_times_count_and_volume() -> None:
    tablets = {"doseAndRate": [{"doseQuantity": {"value": 2, "code": "{tbl}"}}]}
    assert daily_dose([tablets], strength_from_name("prednisone 5 MG Oral Tablet")).mg == 10.0
    millilitres = {"doseAndRate": [{"doseQuantity": {"value": 2, "unit": "mL"}}]}
    assert (
        daily_dose([millilitres], strength_from_name("dexamethasone 4 MG/ML Injectable Solution")).mg == 8.0
    )
    assert strength_from_name("amlodipine 5 MG / benazepril 10 MG Oral Capsule") is None


def test_strength_from_ingredient_ratio() -> None:
    ingredient = {
        "strength": {"numerator": {"value": 20, "code": "mg"}, "denominator": {"value": 5, "code": "mL"}}
    }
    strength = strength_from_ingredient(ingredient)
    assert strength is not None and strength.mg == 4.0 and strength.per == "ml"


def test_reasons_when_not_computable() -> None:
    per_kg = {"doseAndRate": [{"doseQuantity": {"value": 1, "unit": "mg/kg"}}]}
    assert daily_dose([per_kg]).reason == "dose in mg/kg and no body weight on record"
    assert daily_dose([per_kg], weight_kg=80).mg == 80.0
    tablets = {"doseAndRate": [{"doseQuantity": {"value": 1, "code": "{tbl}"}}]}
    assert "strength is not given" in daily_dose([tablets]).reason
    huge = {
        "doseAndRate": [{"doseQuantity": {"value": 1e308, "unit": "g"}}],
        "timing": {"repeat": {"frequency": 1e308}},
    }
    assert daily_dose([huge]).mg is None
    range_only = {
        "doseAndRate": [
            {"doseRange": {"low": {"value": 5, "unit": "mg"}, "high": {"value": 15, "unit": "mg"}}}
        ]
    }
    assert daily_dose([range_only]).mg == 5.0


def test_hostile_sequences_and_numbers() -> None:
    odd = {"sequence": 1e308, "doseAndRate": [{"doseQuantity": {"value": 10, "unit": "mg"}}]}
    assert daily_dose([odd]).mg == 10.0
    flagged = {"sequence": True, "doseAndRate": "10 mg", "timing": ["BID"]}
    assert daily_dose([flagged]).mg is None


@pytest.mark.parametrize(
    ("text", "per_day"),
    [
        ("BID", 2.0),
        ("b.i.d.", 2.0),
        ("twice daily", 2.0),
        ("Once a day", 1.0),
        ("every 8 hours", 3.0),
        ("q12h", 2.0),
    ],
)
def test_timing_code_text(text: str, per_day: float) -> None:
    dosage = {
        "timing": {"code": {"text": text}},
        "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "mg"}}],
    }
    assert daily_dose([dosage]).mg == per_day


def test_timing_text_that_is_not_a_pattern_is_not_guessed() -> None:
    dosage = {
        "timing": {"code": {"text": "as directed"}},
        "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "mg"}}],
    }
    assert daily_dose([dosage]).mg is None


def test_r5_strength_quantity() -> None:
    strength = strength_from_ingredient({"strengthQuantity": {"value": 5, "unit": "mg"}})
    assert strength is not None and strength.mg == 5.0 and strength.per == "each"
