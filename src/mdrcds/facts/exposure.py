"""Medication exposure: when a medication record counts as the patient having (or about to have) the
drug, from its status, dates, course length and the class's look-back after the last dose (pure).

- Void records are never exposure: cancelled, entered-in-error, not-taken/not-done, and any record
  with `doNotPerform: true`.
- Ongoing records (active, on-hold, draft, intended, in-progress, recorded) are exposure from their
  start until their course ends: an explicit end, or start + `boundsDuration`, or start +
  `expectedSupplyDuration` x (1 + refills).
- Finished records (completed, stopped, ended, unknown), administrations included, are exposure on
  the days given. Their last dose is the course end, else the start.
- A dispense (completed or in progress) is exposure from its hand-over for its `daysSupply`, like an
  ongoing order with that course; declined dispenses are void.
- After the last dose, exposure counts on for the value set's `exposure_after_last_dose_days`
  (a member may set its own): a checkpoint inhibitor given every 2-6 weeks, amiodarone's half-life
  of weeks. `docs/clinical-safety.md` lists the look-backs and their reasons.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from mdrcds.facts.fhirjson import (
    JsonObject,
    add_days,
    as_list,
    days_of,
    duration_days,
    parse_date,
    period,
)

VOID_STATUSES = frozenset({"cancelled", "entered-in-error", "not-taken", "not-done", "revoked", "declined"})
_ONGOING = frozenset({"active", "draft", "on-hold", "intended", "in-progress", "recorded"})
_STATUS_MAP = {
    # MedicationAdministration and R5 MedicationStatement statuses, folded onto the request vocabulary.
    "in-progress": "active",
    "recorded": "active",
    "not-done": "not-taken",
    "ended": "completed",
}


@dataclass(frozen=True)
class Exposure:
    """What a medication record says about exposure: status, course dates, and whether it is void."""

    status: str
    start: date | None
    end: date | None
    void: bool
    ongoing: bool

    @property
    def course_days(self) -> int | None:
        """Length of the course in days (both ends counted), when both ends are known."""
        if self.start is None or self.end is None or self.end < self.start:
            return None
        return (self.end - self.start).days + 1

    @property
    def last_dose(self) -> date | None:
        """The last day known to be given: the course end, else its start."""
        return self.end or self.start

    def until(self, look_back_days: int) -> date | None:
        """Last day the exposure counts, the look-back included; None when open-ended or void."""
        if self.void:
            return None
        if self.ongoing and self.end is None:
            return date.max
        last = self.last_dose
        if last is None:
            return None
        try:
            return last + timedelta(days=look_back_days)
        except OverflowError:
            return date.max

    def current(self, now: date, look_back_days: int) -> bool:
        """Whether the exposure is in effect on `now` (an ongoing record without an end always is)."""
        if self.void:
            return False
        if self.ongoing and (self.end is None or self.end >= now):
            return True
        until = self.until(look_back_days)
        return until is not None and until >= now


def normalise_status(status: object) -> str:
    """A record's status on the MedicationRequest vocabulary ('unknown' when absent or not a string)."""
    text = status if isinstance(status, str) and status else "unknown"
    return _STATUS_MAP.get(text, text)


def dosages(resource: JsonObject) -> list[JsonObject]:
    """The dosage instructions of a request or statement, or an administration's one dosage."""
    if resource.get("resourceType") == "MedicationAdministration":
        dosage = resource.get("dosage")
        return [dosage] if isinstance(dosage, dict) else []
    items = resource.get("dosageInstruction") or resource.get("dosage")
    return [d for d in as_list(items) if isinstance(d, dict)]


def exposure_of(resource: JsonObject) -> Exposure:
    """The exposure a MedicationRequest, -Statement, -Administration or -Dispense records."""
    status = normalise_status(resource.get("status"))
    void = status in VOID_STATUSES or resource.get("doNotPerform") is True
    if resource.get("resourceType") == "MedicationDispense":
        return _dispense(resource, status, void)
    start, end = period(resource, "effective")
    if resource.get("resourceType") == "MedicationAdministration":
        # R5 renamed effective[x] to occurence[x] (sic), with a dateTime or a Period.
        occurrence = resource.get("occurencePeriod") or resource.get("occurrencePeriod")
        if isinstance(occurrence, dict):
            start, end = (
                start or parse_date(occurrence.get("start")),
                end or parse_date(occurrence.get("end")),
            )
        start = start or parse_date(resource.get("occurenceDateTime") or resource.get("occurrenceDateTime"))
        end = end or start  # one administration is one day's exposure
    for dosage in dosages(resource):
        repeat = _repeat(dosage)
        bounds = repeat.get("boundsPeriod")
        if isinstance(bounds, dict):
            start = start or parse_date(bounds.get("start"))
            end = end or parse_date(bounds.get("end"))
    start = start or parse_date(resource.get("authoredOn")) or parse_date(resource.get("dateAsserted"))
    if end is None and start is not None:
        days = _course_days(resource)
        end = add_days(start, days) if days is not None else None
    return Exposure(status=status, start=start, end=end, void=void, ongoing=status in _ONGOING)


def _dispense(resource: JsonObject, status: str, void: bool) -> Exposure:
    start = parse_date(resource.get("whenHandedOver")) or parse_date(resource.get("whenPrepared"))
    days = duration_days(resource.get("daysSupply"))
    end = add_days(start, days) if start is not None and days is not None else start
    # Handed over (or being handed over): the patient has the drug for the days supplied.
    handed = status in ("completed", "active", "unknown")
    return Exposure(status=status, start=start, end=end, void=void, ongoing=handed and days is not None)


def _repeat(dosage: JsonObject) -> JsonObject:
    timing = dosage.get("timing")
    repeat = timing.get("repeat") if isinstance(timing, dict) else None
    return repeat if isinstance(repeat, dict) else {}


def _course_days(resource: JsonObject) -> float | None:
    """Course length from a bounds duration or the dispensed supply, when the record gives one."""
    for dosage in dosages(resource):
        repeat = _repeat(dosage)
        days = duration_days(repeat.get("boundsDuration"))
        if days is not None:
            return days
        count, frequency, period = repeat.get("count"), repeat.get("frequency", 1), repeat.get("period", 1)
        unit_days = days_of(repeat.get("periodUnit", "d"))
        if (
            isinstance(count, int)
            and 0 < count < 10000
            and isinstance(frequency, int)
            and frequency > 0
            and isinstance(period, int | float)
            and 0 < period < 10000
            and unit_days is not None
        ):
            # `count` doses at `frequency` per `period`: a single dose ordered once is a one-day course.
            return max(1.0, count / frequency * period * unit_days)
    dispense = resource.get("dispenseRequest")
    if isinstance(dispense, dict):
        supply = duration_days(dispense.get("expectedSupplyDuration"))
        refills = dispense.get("numberOfRepeatsAllowed")
        if supply is not None:
            fills = 1 + (refills if isinstance(refills, int) and 0 < refills < 1000 else 0)
            return supply * fills
    return None
