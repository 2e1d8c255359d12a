"""Conditions: what a Condition (or a coded finding) says about the patient, not about a relative, a
plan or a question (pure).

- `verificationStatus` refuted or entered-in-error voids the record; unconfirmed, provisional and
  differential make it 'unconfirmed', which no rule counts as an established diagnosis.
- A category or a text that puts the concept in another context is not the patient's condition:
  family history, screening, awaiting or candidate for, rule out, no evidence of, denies, suspected,
  at risk of... (`in_other_context`). FamilyMemberHistory resources are never read at all.
- `onset` is kept apart from `recordedDate`: a later rule needs to know whether a disease began before
  the first checkpoint-inhibitor dose, and a recording date does not say that.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from mdrcds.facts.fhirjson import JsonObject, codeable_texts, first_code, parse_date
from mdrcds.knowledge.terminology import Concept, normalise_name

_UNCONFIRMED = frozenset({"unconfirmed", "provisional", "differential"})
_VOID = frozenset({"refuted", "entered-in-error"})
_CLINICAL_MAP = {"recurrence": "active", "relapse": "active"}

# Phrases that, before the concept's name, put it in another context than "the patient has it".
_CUES_BEFORE = (
    "family history of",
    "family history",
    "fh of",
    "fhx",
    "fh",
    "history of screening",
    "screening for",
    "screening",
    "awaiting",
    "waiting list for",
    "wait list for",
    "candidate for",
    "evaluation for",
    "referral for",
    "assessment for",
    "rule out",
    "r o",
    "ruled out",
    "no evidence of",
    "no history of",
    "no known",
    "no",
    "not",
    "denies",
    "denied",
    "negative for",
    "absence of",
    "free of",
    "suspected",
    "possible",
    "query",
    "risk of",
    "at risk for",
    "at risk of",
    "planned",
    "scheduled",
    "donor",
    "donation",
    *("mother", "father", "sister", "brother", "sibling", "son", "daughter", "maternal", "paternal"),
    *("grandmother", "grandfather", "aunt", "uncle", "cousin", "parent"),
)
# Phrases that, after the name, do the same ("kidney transplant candidate", "RA ruled out").
_CUES_AFTER = (
    "ruled out",
    "excluded",
    "candidate",
    "waiting list",
    "wait list",
    "work up",
    "workup",
    "evaluation",
    "screening",
    "planned",
    "scheduled",
    "suspected",
    "in family",
    "in mother",
    "in father",
    "in sibling",
    "family history",
    "not confirmed",
    "unlikely",
    "donor",
    "in relative",
    "in brother",
    "in sister",
)
# Phrases saying a disease was caused by treatment (an immune-related adverse event, not a pre-existing
# autoimmune disease): 'type 1 diabetes due to immune checkpoint inhibitor', 'ICI-induced colitis'.
_INDUCED = re.compile(
    r"(?<= )(induced|drug induced|immune related|irae|due to (immune )?checkpoint|"
    r"due to immunotherapy|secondary to immunotherapy|due to (pembrolizumab|nivolumab|ipilimumab|"
    r"atezolizumab|durvalumab|avelumab|cemiplimab|dostarlimab))(?= )"
)
_OTHER_CONTEXT_CATEGORIES = ("family history", "screening", "health concern", "health-concern", "risk")
_BEFORE = re.compile(r"(?<= )(" + "|".join(re.escape(c) for c in _CUES_BEFORE) + r")(?= )")
_AFTER = re.compile(r"(?<= )(" + "|".join(re.escape(c) for c in _CUES_AFTER) + r")(?= )")


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


def in_other_context(concept: Concept, names: tuple[str, ...], resource: JsonObject | None = None) -> bool:
    """True when the concept's text (or the resource's category) places it in another context than
    the patient having it: a relative, a screening, a plan, a question or a negation.

    `names` are the value-set member's names: a cue counts before the first place a name occurs in
    a text, or after it; in a text that holds none of the names, any cue counts.
    """
    if resource is not None:
        for text in codeable_texts(resource.get("category")):
            lowered = text.lower()
            if any(category in lowered for category in _OTHER_CONTEXT_CATEGORIES):
                return True
    wanted = [normalise_name(name) for name in names]
    for text in concept.display_texts():
        normalised = normalise_name(text)
        positions = [(normalised.find(name), len(name)) for name in wanted if name.strip()]
        hits = [(at, size) for at, size in positions if at >= 0]
        if not hits:
            if _BEFORE.search(normalised) or _AFTER.search(normalised):
                return True
            continue
        at, size = min(hits)
        if _BEFORE.search(normalised[: at + 1]) or _AFTER.search(normalised[at + size - 1 :]):
            return True
    return False
