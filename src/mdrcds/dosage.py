"""Daily dose arithmetic on FHIR Dosage JSON (pure).

Used for the prednisone-equivalent daily dose of systemic corticosteroids. Only doses that can be
computed without guessing are computed: a dose quantity in mass units and, when a timing is given,
a frequency and period in hours, days or weeks. Anything else yields None ("not computable").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

_MG_PER_UNIT = {"mg": 1.0, "g": 1000.0, "ug": 0.001, "mcg": 0.001, "µg": 0.001}
_DAYS_PER_PERIOD_UNIT = {"h": 1 / 24, "d": 1.0, "wk": 7.0}


def dose_mg(dosage: Mapping[str, Any]) -> float | None:
    """The single dose in milligrams, or None when it is absent, a range, or not in mass units."""
    for dose_and_rate in dosage.get("doseAndRate") or []:
        quantity = dose_and_rate.get("doseQuantity")
        if not isinstance(quantity, dict):
            continue
        value = quantity.get("value")
        unit = str(quantity.get("code") or quantity.get("unit") or "").strip().lower()
        if isinstance(value, int | float) and unit in _MG_PER_UNIT:
            return float(value) * _MG_PER_UNIT[unit]
    return None


def doses_per_day(dosage: Mapping[str, Any]) -> float | None:
    """How many doses a day the timing asks for; once a day when no repeat is given; None if unknown."""
    timing = dosage.get("timing")
    repeat = timing.get("repeat") if isinstance(timing, dict) else None
    if not isinstance(repeat, dict):
        return None if isinstance(timing, dict) and timing.get("code") else 1.0
    frequency = repeat.get("frequency", 1)
    period = repeat.get("period", 1)
    unit = repeat.get("periodUnit", "d")
    if not isinstance(frequency, int | float) or not isinstance(period, int | float) or period <= 0:
        return None
    days = _DAYS_PER_PERIOD_UNIT.get(str(unit))
    if days is None:
        return None
    return float(frequency) / (float(period) * days)


def daily_dose_mg(dosages: Sequence[Mapping[str, Any]]) -> float | None:
    """Total mg per day of the first step of the dosage instructions, or None if not computable.

    Instructions that share the lowest `sequence` (or have none) are taken as concurrent and summed;
    later sequences are later steps of a schedule (a taper) and are not part of today's dose.
    """
    if not dosages:
        return None
    sequences = [int(d["sequence"]) for d in dosages if isinstance(d.get("sequence"), int)]
    first = min(sequences) if sequences else None
    total = 0.0
    for dosage in dosages:
        if first is not None and dosage.get("sequence", first) != first:
            continue
        if dosage.get("asNeededBoolean") is True or dosage.get("asNeededCodeableConcept"):
            return None
        dose = dose_mg(dosage)
        per_day = doses_per_day(dosage)
        if dose is None or per_day is None:
            return None
        total += dose * per_day
    return round(total, 3)
