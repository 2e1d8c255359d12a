"""The fact model: one flat, typed clinical statement with its provenance (pure).

One fact says "this resource belongs to this value set through this member", e.g.
`MedicationRequest/12#pgp-inhibitor:verapamil`. A resource in several value sets gives several facts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from mdrcds.knowledge.ruleschema import ENGINE_FIELDS

Scalar = str | int | float | bool

__all__ = ["ENGINE_FIELDS", "NOTE_ATTRIBUTES", "Fact", "FactSet", "Scalar"]

NOTE_ATTRIBUTES = ("exposure_note", "dose_note", "onset_note", "variant_note", "route_note")
"""Attributes holding a sentence for the card's 'what triggered' line (never tested by a pattern)."""


@dataclass(frozen=True)
class Fact:
    """One clinical fact. `id` is unique within an evaluation and stable across runs.

    For medications, `current` means "exposure in effect at the evaluation time": an ongoing order or
    statement, or a completed/stopped one whose last dose is within the class's look-back
    (`mdrcds.facts.exposure`). `exposure_until` is the last day that exposure counts.
    """

    id: str
    kind: str
    value_set: str
    member: str
    source: str
    label: str
    status: str
    current: bool
    matched_by: str
    matched_code: str | None = None
    start: date | None = None
    end: date | None = None
    draft: bool = False
    unverified: str | None = None
    exposure_until: date | None = None
    attributes: Mapping[str, Scalar] = field(default_factory=dict)

    def engine_fields(self) -> dict[str, Scalar]:
        """The flat dict asserted into the rules engine (scalars only, no None)."""
        fields: dict[str, Scalar] = {
            "id": self.id,
            "kind": self.kind,
            "class": self.value_set,
            "member": self.member,
            "status": self.status,
            "current": self.current,
            "draft": self.draft,
            "matched_by": self.matched_by,
        }
        fields.update(self.attributes)
        return fields

    def with_attributes(self, attributes: Mapping[str, Scalar]) -> Fact:
        """This fact with other attributes (what `dataclasses.replace(fact, attributes=...)` gives,
        at a fifth of its cost: the derived steps rewrite every medication fact of a record)."""
        copied = object.__new__(Fact)
        # A frozen dataclass's fields live in its __dict__: copying that is copying the fact.
        copied.__dict__.update(self.__dict__)
        copied.__dict__["attributes"] = attributes
        return copied

    def describe(self) -> str:
        """One line for a card: what, where from, status and dates, and how it was recognised."""
        dates = ""
        if self.start and self.end and self.end != self.start:
            dates = f", {self.start.isoformat()} to {self.end.isoformat()}"
        elif self.start:
            dates = (
                f", {'since' if self.kind in ('medication', 'condition') else 'on'} {self.start.isoformat()}"
            )
        how = f"matched by code {self.matched_code}" if self.matched_by == "code" else "matched by name only"
        status = "draft order" if self.draft else self.status
        # a variant by its name (gene, HGVS changes, copy number), which may already give its change type
        name = str(self.attributes.get("variant_name") or self.attributes.get("gene") or "")
        shown = [name] if name else []
        shown += [
            str(self.attributes[k])
            for k in ("significance", "change_type", "result")
            if k in self.attributes and str(self.attributes[k]) not in name
        ]
        details = ", ".join(shown)
        label = f"{self.label}: {details}" if details else self.label
        notes = "".join(f"; {self.attributes[k]}" for k in NOTE_ATTRIBUTES if k in self.attributes)
        return f"{label} ({self.source}, {status}{dates}; {how}{notes})"


@dataclass
class FactSet:
    """The facts of one evaluation, with the counts a caller may want to report."""

    facts: list[Fact]
    patient_id: str | None
    resources_read: int
    resources_validated: int
    deceased: str | None = None
    """How the Patient resource records the patient's death by the evaluation date, when it does."""
    deferred: tuple[dict[str, Any], ...] = ()
    """Resources whose facts are all of the past, not validated yet (docs/decisions/0011)."""

    @property
    def resources_deferred(self) -> int:
        """Resources that became facts of the past only and are not (yet) validated."""
        return len(self.deferred)

    def validate_deferred(self, validate: Callable[[dict[str, Any]], None]) -> None:
        """Validate the deferred resources with `validate` (the validator the facts were made with;
        FhirValidationError for the first invalid one): called when a rule matched, before any card is
        built, so that every card rests on validated data."""
        for resource in self.deferred:
            validate(resource)
        self.resources_validated += len(self.deferred)
        self.deferred = ()

    def by_id(self) -> dict[str, Fact]:
        """Facts keyed by id."""
        return {fact.id: fact for fact in self.facts}
