"""Conditions: what a Condition (or a coded finding) says about the patient, not about a relative, a
plan or a question (pure).

- `verificationStatus` refuted or entered-in-error voids the record; unconfirmed, provisional and
  differential make it 'unconfirmed', which no rule counts as an established diagnosis.
- A category that puts the concept in another context (family history, screening, health concern,
  risk) is not the patient's condition. For a concept recognised by *name*, its text is read by the
  ConText algorithm (`mdrcds.facts.context`: negated, possible, hypothetical, family, donor); a coded
  concept is never voided by its text (`in_other_context`). FamilyMemberHistory resources are never
  read at all.
- `onset` is kept apart from `recordedDate`: a later rule needs to know whether a disease began before
  the first checkpoint-inhibitor dose, and a recording date does not say that.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from mdrcds.facts.context import voiding_context
from mdrcds.facts.fhirjson import JsonObject, codeable_texts, first_code, parse_date
from mdrcds.knowledge.names import normalise_name
from mdrcds.knowledge.terminology import Concept

_UNCONFIRMED = frozenset({"unconfirmed", "provisional", "differential"})
_VOID = frozenset({"refuted", "entered-in-error"})
_CLINICAL_MAP = {"recurrence": "active", "relapse": "active"}

# Phrases saying a disease was caused by treatment (an immune-related adverse event, not a pre-existing
# autoimmune disease): 'type 1 diabetes due to immune checkpoint inhibitor', 'ICI-induced colitis'.
_INDUCED = re.compile(
    r"(?<= )(induced|drug induced|immune related|irae|due to (immune )?checkpoint|"
    r"due to immunotherapy|secondary to immunotherapy|due to (pembrolizumab|nivolumab|ipilimumab|"
    r"atezolizumab|durvalumab|avelumab|cemiplimab|dostarlimab))(?= )"
)
_OTHER_CONTEXT_CATEGORIES = ("family history", "screening", "health concern", "health-concern", "risk")


@dataclass(frozen=True)
class ConditionState:
    """A Condition's normalised status, whether it holds now, and its dates."""

    status: str
    current: bool
    onset: date | None
    recorded: date | None
    end: date | None

    @property
    def start(self) -> date | None:
        """The onset, else the recording date (the best date there is for a card line)."""
        return self.onset or self.recorded


def condition_state(resource: JsonObject, now: date) -> ConditionState:
    """Status, currency and dates of a Condition (see the module docstring)."""
    verification = first_code(resource.get("verificationStatus"))
    clinical = first_code(resource.get("clinicalStatus")) or "active"
    if verification in _VOID:
        status = verification
    elif verification in _UNCONFIRMED:
        status = "unconfirmed"
    else:
        status = _CLINICAL_MAP.get(clinical, clinical)
    onset_period = resource.get("onsetPeriod")
    onset = parse_date(resource.get("onsetDateTime")) or parse_date(
        onset_period.get("start") if isinstance(onset_period, dict) else None
    )
    abatement_period = resource.get("abatementPeriod")
    end = parse_date(resource.get("abatementDateTime")) or parse_date(
        abatement_period.get("end") if isinstance(abatement_period, dict) else None
    )
    current = status == "active" and (end is None or end >= now)
    return ConditionState(status, current, onset, parse_date(resource.get("recordedDate")), end)


def treatment_induced(concept: Concept) -> bool:
    """True when the concept's text says the disease was caused by a drug or immunotherapy."""
    return any(_INDUCED.search(normalise_name(text)) for text in concept.display_texts())


def in_other_context(concept: Concept, names: tuple[str, ...], resource: JsonObject, by_code: bool) -> bool:
    """True when the record places the concept in another context than the patient having it.

    The resource's category (family history, screening, health concern, risk) counts for every record.
    The text counts only for a concept recognised by name (`by_code` False): a coded diagnosis is never
    voided by words in its free text. Text is read by the ConText algorithm (`mdrcds.facts.context`)
    around the member's `names` where they stand.
    """
    for text in codeable_texts(resource.get("category")):
        lowered = text.lower()
        if any(category in lowered for category in _OTHER_CONTEXT_CATEGORIES):
            return True
    if by_code:
        return False
    return voiding_context(concept.display_texts(), names) is not None
