"""What one call has got to, shared by the hook routes and the card-review page."""

from __future__ import annotations

from dataclasses import dataclass, field

from mdrcds.cards.render import Card
from mdrcds.reading.fhir import FhirInput


@dataclass
class CallState:
    """What one call has got to, for its audit record and log line whatever way it ends."""

    fhir_input: FhirInput | None = None
    missing: list[str] = field(default_factory=list)
    fetched: list[str] = field(default_factory=list)
    cards: list[Card] = field(default_factory=list)
    patient: str | None = None
    ignored: int = 0
    silent: list[str] = field(default_factory=list)
    withheld: str | None = None

    def read(self, fhir_input: FhirInput) -> None:
        """Record the input the call was read into, and the patient its context names."""
        self.fhir_input = fhir_input
        patient = fhir_input.context.get("patientId")
        self.patient = patient if isinstance(patient, str) else None
