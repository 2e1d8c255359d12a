"""Small readers of FHIR JSON shapes shared by the fact modules (pure): dates, durations,
CodeableConcepts and the texts a resource says about itself."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date, timedelta
from typing import Any

from mdrcds.knowledge.terminology import Concept

JsonObject = dict[str, Any]

_DAYS_PER_UNIT = {
    "s": 1 / 86400,
    "min": 1 / 1440,
    "h": 1 / 24,
    "d": 1.0,
    "wk": 7.0,
    "mo": 30.0,
    "a": 365.0,
}
_UNIT_ALIASES = {
    "second": "s",
    "seconds": "s",
    "minute": "min",
    "minutes": "min",
    "hour": "h",
    "hours": "h",
    "hr": "h",
    "day": "d",
    "days": "d",
    "week": "wk",
    "weeks": "wk",
    "month": "mo",
    "months": "mo",
    "year": "a",
    "years": "a",
}


def parse_date(value: object) -> date | None:
    """The calendar date of a FHIR date/dateTime/instant string ('2020', '2020-03', '2020-03-04T...')."""
    if not isinstance(value, str) or len(value) < 4:
        return None
    parts = value[:10].split("-")
    try:
        year = int(parts[0])
        month = int(parts[1]) if len(parts) > 1 else 1
        day = int(parts[2]) if len(parts) > 2 else 1
        return date(year, month, day)
    except ValueError:
        return None


def days_of(unit: object) -> float | None:
    """Days in one UCUM time unit ('h', 'd', 'wk', 'mo', 'a'; common spellings too), or None."""
    if not isinstance(unit, str):
        return None
    key = unit.strip().lower()
    return _DAYS_PER_UNIT.get(_UNIT_ALIASES.get(key, key))


def duration_days(duration: object) -> float | None:
    """A FHIR Duration ({value, unit|code}) in days, or None when it is not a time quantity."""
    if not isinstance(duration, dict):
        return None
    value = duration.get("value")
    per_unit = days_of(duration.get("code")) or days_of(duration.get("unit"))
    if not isinstance(value, int | float) or isinstance(value, bool) or per_unit is None:
        return None
    days = float(value) * per_unit
    return days if 0 <= days < 1e6 else None  # also refuses inf and NaN


def add_days(start: date, days: float) -> date | None:
    """`start` plus a whole number of days (a course of 1 day ends on its start day); None on overflow."""
    try:
        return start + timedelta(days=max(0, round(days) - 1))
    except OverflowError:
        return None


def concept_of(codeable: object) -> Concept | None:
    """A Concept from a FHIR CodeableConcept JSON object (None if it is not one)."""
    if not isinstance(codeable, dict):
        return None
    codings = tuple(
        (_text(c.get("system")), _text(c.get("code")), _text(c.get("display")))
        for c in _list(codeable.get("coding"))
        if isinstance(c, dict)
    )
    return Concept(codings, _text(codeable.get("text")))


def first_code(codeable: object, system: str | None = None) -> str | None:
    """The first coding's code (of `system`, when given) of a CodeableConcept."""
    if not isinstance(codeable, dict):
        return None
    for coding in _list(codeable.get("coding")):
        code = coding.get("code") if isinstance(coding, dict) else None
        if isinstance(code, str) and code and (system is None or coding.get("system") == system):
            return code
    return None


def has_coding(codeable: object, wanted: Iterable[tuple[str, str]]) -> bool:
    """Whether a CodeableConcept carries any of the (system, code) pairs."""
    if not isinstance(codeable, dict):
        return False
    pairs = set(wanted)
    return any(
        isinstance(coding, dict) and (coding.get("system"), coding.get("code")) in pairs
        for coding in _list(codeable.get("coding"))
    )


def period(resource: JsonObject, prefix: str) -> tuple[date | None, date | None]:
    """(start, end) of `<prefix>Period`, or (`<prefix>DateTime`, same day for an instant event)."""
    value = resource.get(f"{prefix}Period")
    if isinstance(value, dict):
        return parse_date(value.get("start")), parse_date(value.get("end"))
    return parse_date(resource.get(f"{prefix}DateTime")), None


def codeable_texts(value: object) -> Iterator[str]:
    """Every text and display inside a CodeableConcept, a CodeableReference, a Reference or a list."""
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            concept = concept_of(item.get("concept", item))
            if concept is not None:
                yield from concept.display_texts()
            display = item.get("display")
            if isinstance(display, str):
                yield display
            reference = item.get("reference")
            if isinstance(reference, dict):
                yield from codeable_texts(reference)
            text = item.get("text")
            if isinstance(text, str) and not concept:
                yield text


def as_list(value: object) -> list[Any]:
    """`value` if it is a JSON array, else an empty list (malformed input is not read)."""
    return _list(value)


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


CONFIDENTIALITY_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
CONFIDENTIALITY_ORDER = ("U", "L", "M", "N", "R", "V")
"""HL7 v3 Confidentiality codes, least restrictive first (unrestricted ... very restricted)."""


def confidentiality(resource: JsonObject) -> str | None:
    """The most restrictive v3 Confidentiality code in the resource's `meta.security`, or None."""
    meta = resource.get("meta")
    labels = meta.get("security") if isinstance(meta, dict) else None
    codes = [
        label.get("code")
        for label in labels or []
        if isinstance(label, dict) and label.get("system") == CONFIDENTIALITY_SYSTEM
    ]
    known = [code for code in codes if code in CONFIDENTIALITY_ORDER]
    return max(known, key=CONFIDENTIALITY_ORDER.index) if known else None
