"""Daily dose arithmetic on FHIR Dosage JSON (pure).

Used for the prednisone-equivalent daily dose of systemic corticosteroids. A dose is computed only
when it can be read without guessing, and otherwise the reason is returned:

- the dose: `doseQuantity`, the lower bound of `doseRange`, or an administration's `dose`; in mass
  units (g, mg, ug), in mg/kg with the patient's body weight, or in units of the product (tablets,
  mL) times the product strength (the Medication's `ingredient.strength`, else one 'N MG' or
  'N MG/ML' in the product name, as RxNorm clinical-drug names give it);
- how often: `timing.repeat` (frequency per period, `when`, `timeOfDay`), else a timing code (BID,
  TID, QID, QD, QOD, AM, PM, BED, Q<n>H, WK, MO). No timing at all is once a day; 'as needed' is
  not computable.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeGuard

from mdrcds.facts.fhirjson import as_list, days_of

_MG_PER_UNIT = {
    "mg": 1.0,
    "milligram": 1.0,
    "milligrams": 1.0,
    "g": 1000.0,
    "gram": 1000.0,
    "grams": 1000.0,
    "ug": 0.001,
    "mcg": 0.001,
    "µg": 0.001,
    "microgram": 0.001,
    "micrograms": 0.001,
}
_PER_DAY_SUFFIXES = ("/d", "/day", "/24.h", "/24h")
_COUNT_UNITS = frozenset(
    {
        "1",
        "{tbl}",
        "{tablet}",
        "{tablets}",
        "tablet",
        "tablets",
        "tab",
        "tabs",
        "{capsule}",
        "capsule",
        "capsules",
        "cap",
        "caps",
        "{each}",
        "each",
        "ea",
        "{unit}",
        "unit",
        "{dose}",
        "dose",
        "{vial}",
        "vial",
        "{ampule}",
        "ampule",
        "{patch}",
        "{puff}",
    }
)
_VOLUME_UNITS = {"ml": 1.0, "l": 1000.0}
# HL7 v3 GTSAbbreviation (the FHIR R4 timing-abbreviation value set): doses per day.
_TIMING_CODES = {
    "BID": 2.0,
    "TID": 3.0,
    "QID": 4.0,
    "AM": 1.0,
    "PM": 1.0,
    "QD": 1.0,
    "QOD": 0.5,
    "BED": 1.0,
    "WK": 1 / 7,
    "MO": 1 / 30,
}
_EVERY_N_HOURS = re.compile(r"^Q(\d{1,2})H$")
# The same patterns as they are often written in a timing code's text.
_TIMING_PHRASES = {
    "once daily": 1.0,
    "once a day": 1.0,
    "daily": 1.0,
    "every day": 1.0,
    "twice daily": 2.0,
    "twice a day": 2.0,
    "three times daily": 3.0,
    "three times a day": 3.0,
    "four times daily": 4.0,
    "four times a day": 4.0,
    "every other day": 0.5,
    "weekly": 1 / 7,
    "once weekly": 1 / 7,
}
_EVERY_N_HOURS_TEXT = re.compile(r"^(?:every|q)\s*(\d{1,2})\s*(?:h|hr|hrs|hours?)$")
_STRENGTH_IN_NAME = re.compile(r"(\d+(?:\.\d+)?)\s*(MG|G|MCG|UG)(\s*/\s*ML)?\b", re.IGNORECASE)


@dataclass(frozen=True)
class Strength:
    """Milligrams of the ingredient per unit of the product: per tablet/capsule, or per mL."""

    mg: float
    per: str  # 'each' or 'ml'


@dataclass(frozen=True)
class DailyDose:
    """A daily dose in mg, or None with the reason it could not be computed."""

    mg: float | None
    reason: str = ""


def strength_from_name(text: str) -> Strength | None:
    """The strength in a product name such as 'prednisone 5 MG Oral Tablet' or 'dexamethasone
    4 MG/ML Injectable Solution'; None when the name gives none or more than one."""
    found = _STRENGTH_IN_NAME.findall(text)
    if len(found) != 1:
        return None
    value, unit, per_ml = found[0]
    mg = float(value) * _MG_PER_UNIT[unit.lower()]
    return Strength(mg, "ml" if per_ml else "each")


def strength_from_ingredient(ingredient: Mapping[str, Any]) -> Strength | None:
    """The strength of one Medication.ingredient (R4 `strength`, R5 `strengthRatio`)."""
    quantity = ingredient.get("strengthQuantity")  # R5: an amount per unit of the product
    if isinstance(quantity, dict):
        mg = _mass_mg(quantity)
        return Strength(mg, "each") if mg is not None else None
    ratio = ingredient.get("strength") or ingredient.get("strengthRatio")
    if not isinstance(ratio, dict):
        return None
    numerator, denominator = ratio.get("numerator"), ratio.get("denominator") or {"value": 1}
    if not isinstance(numerator, dict) or not isinstance(denominator, dict):
        return None
    mg = _mass_mg(numerator)
    amount = denominator.get("value", 1)
    if mg is None or not _number(amount) or amount <= 0:
        return None
    unit = _unit(denominator)
    if unit in _VOLUME_UNITS:
        return Strength(mg / (amount * _VOLUME_UNITS[unit]), "ml")
    if unit in _COUNT_UNITS or unit == "":
        return Strength(mg / amount, "each")
    return None


def daily_dose(
    dosages: Sequence[Mapping[str, Any]],
    strength: Strength | None = None,
    weight_kg: float | None = None,
) -> DailyDose:
    """Total mg per day of the first step of the dosage instructions, or why it is not computable.

    Instructions that share the lowest `sequence` (or have none) are concurrent and summed; later
    sequences are later steps of a schedule (a taper) and are not part of today's dose.
    """
    if not dosages:
        return DailyDose(None, "no dose given")
    sequences = [d["sequence"] for d in dosages if isinstance(d.get("sequence"), int)]
    first = min(sequences) if sequences else None
    total = 0.0
    for dosage in dosages:
        if first is not None and dosage.get("sequence", first) != first:
            continue
        if dosage.get("asNeededBoolean") is True or dosage.get("asNeededCodeableConcept"):
            return DailyDose(None, "dose as needed")
        dose = dose_mg(dosage, strength, weight_kg)
        if dose.mg is None:
            return dose
        per_day = 1.0 if _is_per_day(dosage) else doses_per_day(dosage)
        if per_day is None:
            return DailyDose(None, "dose frequency not readable")
        total += dose.mg * per_day
    if total != total or total in (float("inf"), float("-inf")) or total > 1e7:
        return DailyDose(None, "dose out of range")
    return DailyDose(round(total, 3))


def dose_mg(
    dosage: Mapping[str, Any], strength: Strength | None = None, weight_kg: float | None = None
) -> DailyDose:
    """One dose in milligrams (see the module docstring), or why it is not computable."""
    quantity = _dose_quantity(dosage)
    if quantity is None:
        return DailyDose(None, "no dose given")
    value, unit = quantity["value"], _unit(quantity).replace(" ", "")
    for suffix in _PER_DAY_SUFFIXES:
        unit = unit.removesuffix(suffix)
    if unit in _MG_PER_UNIT:
        return DailyDose(float(value) * _MG_PER_UNIT[unit])
    if unit in ("mg/kg", "mg/kg/dose", "mg/kg{dose}"):
        if weight_kg is None:
            return DailyDose(None, "dose in mg/kg and no body weight on record")
        return DailyDose(float(value) * weight_kg)
    if strength is not None and strength.per == "each" and unit in _COUNT_UNITS:
        return DailyDose(float(value) * strength.mg)
    if strength is not None and strength.per == "ml" and unit in _VOLUME_UNITS:
        return DailyDose(float(value) * _VOLUME_UNITS[unit] * strength.mg)
    if unit in ("mg/m2", "mg/m^2", "mg/m²"):
        return DailyDose(None, "dose per body surface area")
    if unit in _COUNT_UNITS or unit in _VOLUME_UNITS:
        return DailyDose(None, "dose in product units and the product strength is not given")
    return DailyDose(None, f"dose unit {unit or 'missing'} not readable")


def needs_body_weight(dosages: Sequence[Mapping[str, Any]]) -> bool:
    """Whether any dose is given per kilogram (so the patient's weight must be looked up)."""
    for dosage in dosages:
        quantity = _dose_quantity(dosage)
        if quantity is not None and "/kg" in _unit(quantity).replace(" ", ""):
            return True
    return False


def doses_per_day(dosage: Mapping[str, Any]) -> float | None:
    """How many doses a day the timing asks for; once a day when no timing is given; None if unknown."""
    timing = dosage.get("timing")
    if timing is None:
        return 1.0
    if not isinstance(timing, dict):
        return None
    repeat = timing.get("repeat")
    if isinstance(repeat, dict) and any(
        key in repeat for key in ("frequency", "period", "when", "timeOfDay")
    ):
        return _repeat_per_day(repeat)
    code = timing.get("code")
    if code is not None:
        return _code_per_day(code)
    return 1.0


def _repeat_per_day(repeat: Mapping[str, Any]) -> float | None:
    if "frequency" not in repeat and "period" not in repeat:
        times = len(as_list(repeat.get("when"))) or len(as_list(repeat.get("timeOfDay")))
        return float(times) if times else None
    frequency = repeat.get("frequency", 1)
    period = repeat.get("period", 1)
    days = days_of(repeat.get("periodUnit", "d"))
    if not _number(frequency) or not _number(period) or period <= 0 or frequency <= 0 or days is None:
        return None
    return float(frequency) / (float(period) * days)


def _code_per_day(code: object) -> float | None:
    if not isinstance(code, dict):
        return None
    for coding in as_list(code.get("coding")):
        value = coding.get("code") if isinstance(coding, dict) else None
        if not isinstance(value, str):
            continue
        value = value.strip().upper()
        if value in _TIMING_CODES:
            return _TIMING_CODES[value]
        hours = _EVERY_N_HOURS.match(value)
        if hours and int(hours.group(1)) > 0:
            return 24 / int(hours.group(1))
    # No coding we know: the text, when it is an abbreviation or a common phrase.
    text = code.get("text")
    return _text_per_day(text) if isinstance(text, str) else None


def _is_per_day(dosage: Mapping[str, Any]) -> bool:
    """A dose already given per day ('mg/d', 'mg/kg/d'): its timing is not multiplied in again."""
    quantity = _dose_quantity(dosage)
    unit = _unit(quantity).replace(" ", "") if quantity else ""
    return unit.endswith(_PER_DAY_SUFFIXES)


def _text_per_day(text: str) -> float | None:
    """Doses a day from a timing code's text: an abbreviation (BID, Q8H) or a common phrase."""
    cleaned = " ".join(text.strip().lower().replace(".", "").split())
    if cleaned.upper() in _TIMING_CODES:
        return _TIMING_CODES[cleaned.upper()]
    if cleaned in _TIMING_PHRASES:
        return _TIMING_PHRASES[cleaned]
    hours = _EVERY_N_HOURS.match(cleaned.upper()) or _EVERY_N_HOURS_TEXT.match(cleaned)
    if hours and int(hours.group(1)) > 0:
        return 24 / int(hours.group(1))
    return None


def _dose_quantity(dosage: Mapping[str, Any]) -> dict[str, Any] | None:
    candidates: list[Any] = [dosage.get("dose")]
    for dose_and_rate in as_list(dosage.get("doseAndRate")):
        if isinstance(dose_and_rate, dict):
            dose_range = dose_and_rate.get("doseRange")
            low = dose_range.get("low") if isinstance(dose_range, dict) else None
            candidates += [dose_and_rate.get("doseQuantity"), low]
    for quantity in candidates:
        if isinstance(quantity, dict) and _number(quantity.get("value")) and quantity["value"] >= 0:
            return quantity
    return None


def _mass_mg(quantity: Mapping[str, Any]) -> float | None:
    value, unit = quantity.get("value"), _unit(quantity)
    if not _number(value) or unit not in _MG_PER_UNIT:
        return None
    return float(value) * _MG_PER_UNIT[unit]


def _unit(quantity: Mapping[str, Any]) -> str:
    for key in ("code", "unit"):
        value = quantity.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip().lower()
    return ""


def _number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value


def as_written(mg: float) -> str:
    """A dose as a clinician writes it: whole milligrams from 10 mg up (halves kept: 12.5), one decimal
    below (7.5, 0.75 stays 0.75 under 1 mg); never a trailing zero. The band decision uses the exact
    value, not this text."""
    if mg >= 10:
        value = round(mg * 2) / 2 if abs(mg * 2 - round(mg * 2)) < 0.02 else round(mg)
    elif mg >= 1:
        value = round(mg, 1)
    else:
        value = round(mg, 2)
    return f"{value:g}"
