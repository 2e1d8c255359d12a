"""The resource screen: which resources no rule can use, decided from the resource's code alone.

Most of a record is irrelevant to the rulebook: a Synthea patient has hundreds of procedures, encounter
diagnoses and orders for drugs no rule names. The screen answers for one resource, before anything is
built from it, whether any fact can come from it. It reads only the element that names the concept
(`code`, or `medicationCodeableConcept`), as raw JSON while the resource is still a view into the parsed
document, and remembers codes that classify to nothing (`Terminology.remember_unclassified`), so a code
seen before costs one set lookup.

The reader (`mdrcds.reading.fhir.read_bytes(screen=...)`) calls it for every resource of a Bundle or a
prefetch Bundle, and a screened resource is counted and never wrapped, walked or validated: the Python
loop the rest of the pipeline runs per resource is paid only for resources that can matter. The fact
builder asks the same questions, so the two cannot disagree. What the screen keeps goes on to the
builder, which still decides everything else (ConText, dates, status, validation).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from weakref import WeakKeyDictionary

from mdrcds.facts.fhirjson import concept_of
from mdrcds.knowledge.terminology import ClassMatch, Concept, Terminology
from mdrcds.reading.fhir import KnownIrrelevant, Resource

KIND_BY_TYPE = {
    "MedicationRequest": "medication",
    "MedicationStatement": "medication",
    "MedicationAdministration": "medication",
    "MedicationDispense": "medication",
    "Condition": "condition",
    "Observation": "observation",
    "Procedure": "procedure",
}
"""The kind of concept (a value set's `applies_to`) each resource type that can become a fact names."""

# Body weight, LOINC 29463-7 (as in the mCODE STU4 example Observation-bodyweight-jenny-m-2018-03-16):
# classified by no value set, but read for weight-based doses.
BODY_WEIGHT = re.compile(rb'"29463-7"')

RESOLVED_ELSEWHERE = ("medicationReference", "medication")
"""Elements that name a record's drug by a resource to resolve (R4 Reference, R5 CodeableReference)."""


class ResourceScreen:
    """Classifies a resource's concept for the builder, and dismisses resources no rule can use."""

    def __init__(self, terminology: Terminology) -> None:
        self.terminology = terminology
        self.coded_kinds = frozenset(
            kind for kind in ("condition", "observation", "procedure") if terminology.classifies(kind)
        )
        self._patterns = {kind: terminology.code_pattern(kind) for kind in self.coded_kinds}
        known: dict[str, KnownIrrelevant] = {}
        for resource_type, kind in KIND_BY_TYPE.items():
            keys = terminology.unclassified_keys(kind)
            if kind == "medication":
                known[resource_type] = KnownIrrelevant(
                    "medicationCodeableConcept", keys, unless_has=RESOLVED_ELSEWHERE
                )
            elif kind in self.coded_kinds:
                weight = BODY_WEIGHT.pattern if resource_type == "Observation" else None
                known[resource_type] = KnownIrrelevant("code", keys, unless_contains=weight)
        self._known = known
        self._relevant_medications: set[bytes] = set()
        """Raw `medicationCodeableConcept` JSON seen before that classifies into some value set."""

    RELEVANT_CAPACITY = 100_000
    """Most raw medication concepts remembered as classifying into a value set."""

    @property
    def known_irrelevant(self) -> Mapping[str, KnownIrrelevant]:
        """Per resource type, the raw concepts already known to classify to nothing: the reader
        dismisses a resource naming one of them without wrapping it or calling the screen."""
        return self._known

    def __call__(self, resource: Resource) -> bool:
        """True when no fact can come from this resource, whatever else the input holds: its concept
        classifies to no value set of its kind (and it is no body weight), or no value set classifies
        its kind at all. Types that are not facts themselves (Patient, Medication) are never dismissed;
        nor is a medication record that refers to a Medication resource (resolved by the builder).
        The caller keeps the hook's draft orders whatever this says (they are validated regardless)."""
        kind = KIND_BY_TYPE.get(resource.resource_type)
        if kind is None:
            return False
        if kind == "medication":
            return self.medication_irrelevant(resource)
        if kind not in self.coded_kinds:
            return True
        if resource.resource_type == "Observation" and _may_be_body_weight(resource):
            return False
        return self.coded_matches(resource, kind) is None

    def medication_irrelevant(self, resource: Resource) -> bool:
        """True when the medication record names its drug by a concept alone (no Medication resource
        to resolve) and that concept belongs to no value set. A record whose JSON names a member twice
        is never dismissed: the fact builder refuses it."""
        if resource.has_any(RESOLVED_ELSEWHERE) or resource.named_twice() is not None:
            return False  # resolved by the builder; or ambiguous JSON, which the builder refuses
        terminology = self.terminology
        # A record names the same few drugs on hundreds of orders: the raw concept is looked up first.
        key = resource.element_key("medicationCodeableConcept")
        if key is not None:
            if terminology.known_unclassified("medication", key):
                return True
            if key in self._relevant_medications:
                return False  # the reader asked first, and a course repeats one drug on every order
        concept = concept_of(resource.element("medicationCodeableConcept"))
        if concept is not None and terminology.classify(concept, "medication"):
            if key is not None:
                if len(self._relevant_medications) >= self.RELEVANT_CAPACITY:
                    self._relevant_medications.clear()
                self._relevant_medications.add(key)
            return False
        if key is not None:
            terminology.remember_unclassified("medication", key)
        return True

    def coded_matches(self, resource: Resource, kind: str) -> tuple[Concept, list[ClassMatch]] | None:
        """The concept of a Condition, Observation or Procedure and the value sets it classifies into
        (before its context is read); None when it classifies into none."""
        terminology = self.terminology
        key = resource.code_key()
        if key is not None:
            if terminology.known_unclassified(kind, key):
                return None
            pattern = self._patterns.get(kind)
            if pattern is not None and pattern.search(key) is None:
                # Classified by code only, and none of the value sets' codes occurs in this `code`.
                terminology.remember_unclassified(kind, key)
                return None
        concept = concept_of(resource.peek_code())
        if concept is None:
            return None
        matches = terminology.classify(concept, kind)
        if not matches:
            if key is not None:
                terminology.remember_unclassified(kind, key)
            return None
        return concept, matches


def _may_be_body_weight(resource: Resource) -> bool:
    key = resource.code_key()
    return key is None or BODY_WEIGHT.search(key) is not None


_SCREENS: WeakKeyDictionary[Terminology, ResourceScreen] = WeakKeyDictionary()


def screen_for(terminology: Terminology) -> ResourceScreen:
    """The screen of a terminology, made once (it holds no state of its own beyond the terminology's)."""
    screen = _SCREENS.get(terminology)
    if screen is None:
        screen = _SCREENS[terminology] = ResourceScreen(terminology)
    return screen
