"""Facts: flat, typed clinical statements made from FHIR resources, with provenance.

One fact says "this resource belongs to this value set through this member", e.g.
`MedicationRequest/12#pgp-inhibitor:verapamil`. A resource in several value sets gives several
facts. Facts carry a normalised status, whether they count as present at the evaluation time
(`current`), start and end dates, how the class was matched (code or name) and kind-specific
attributes (route, prednisone-equivalent dose, gene, clinical significance, ...). This module is
pure: it reads JSON dicts and calls the validator it is given.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date

from mdrcds.derived import derive
from mdrcds.dosage import daily_dose_mg
from mdrcds.errors import InputFormatError
from mdrcds.fhir import FhirInput, JsonObject, Resource
from mdrcds.terminology import ClassMatch, Concept, Terminology

Scalar = str | int | float | bool

ENGINE_FIELDS: Mapping[str, type | tuple[type, ...]] = {
    "kind": str,
    "class": str,
    "member": str,
    "status": str,
    "current": bool,
    "draft": bool,
    "matched_by": str,
    "systemic": bool,
    "target": str,
    "pred_eq_mg_day": (int, float),
    "value_code": str,
    "value": (int, float),
    "unit": str,
    "gene": str,
    "significance": str,
    "change_type": str,
    "first_in_class": bool,
    "result": str,
    "after_first_checkpoint_inhibitor": bool,
    "resistance_pattern": str,
    "prior_pgp_substrates": (int, float),
}
"""Fact fields a rule pattern may test, with their types."""

_KIND_BY_TYPE = {
    "MedicationRequest": "medication",
    "MedicationStatement": "medication",
    "MedicationAdministration": "medication",
    "Condition": "condition",
    "Observation": "observation",
    "Procedure": "procedure",
}

_STATUS_MAP = {
    # MedicationAdministration and R5 MedicationStatement statuses, folded onto the request vocabulary.
    "in-progress": "active",
    "recorded": "active",
    "not-done": "not-taken",
    # Condition clinical statuses.
    "recurrence": "active",
    "relapse": "active",
}
_CURRENT_STATUSES = frozenset({"active", "draft", "on-hold", "intended", "in-progress"})
_OBSERVATION_VOID = frozenset({"cancelled", "entered-in-error"})
_PROCEDURE_PRESENT = frozenset({"completed", "in-progress"})

LOINC_GENE_STUDIED = "48018-6"
LOINC_CLINICAL_SIGNIFICANCE = "53037-8"
# The variant's type of change (copy number gain, deletion, ...): Genomics Reporting STU3 codes the
# component LOINC 48019-4; mCODE STU4's examples code it with the GR 'molecular-consequence' TBD code.
CHANGE_TYPE_COMPONENTS = (
    ("http://loinc.org", "48019-4"),
    ("http://hl7.org/fhir/uv/genomics-reporting/CodeSystem/tbd-codes-cs", "molecular-consequence"),
)


@dataclass(frozen=True)
class Fact:
    """One clinical fact. `id` is unique within an evaluation and stable across runs."""

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

    def describe(self) -> str:
        """One line for a card: what, where from, status and dates, and how it was recognised."""
        dates = ""
        if self.start and self.end:
            dates = f", {self.start.isoformat()} to {self.end.isoformat()}"
        elif self.start:
            dates = (
                f", {'since' if self.kind in ('medication', 'condition') else 'on'} {self.start.isoformat()}"
            )
        how = f"matched by code {self.matched_code}" if self.matched_by == "code" else "matched by name only"
        status = "draft order" if self.draft else self.status
        shown = ("gene", "significance", "change_type", "result")
        details = ", ".join(str(self.attributes[k]) for k in shown if k in self.attributes)
        label = f"{self.label}: {details}" if details else self.label
        return f"{label} ({self.source}, {status}{dates}; {how})"


@dataclass
class FactSet:
    """The facts of one evaluation, with the counts a caller may want to report."""

    facts: list[Fact]
    patient_id: str | None
    resources_read: int
    resources_validated: int

    def by_id(self) -> dict[str, Fact]:
        """Facts keyed by id."""
        return {fact.id: fact for fact in self.facts}


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


def concept_of(codeable: object) -> Concept | None:
    """A Concept from a FHIR CodeableConcept JSON object (None if it is not one)."""
    if not isinstance(codeable, dict):
        return None
    codings = tuple(
        (c.get("system"), c.get("code"), c.get("display"))
        for c in codeable.get("coding") or []
        if isinstance(c, dict)
    )
    text = codeable.get("text")
    return Concept(codings, text if isinstance(text, str) else None)


def extract_facts(
    fhir_input: FhirInput,
    terminology: Terminology,
    now: date,
    validate: Callable[[JsonObject], None],
) -> FactSet:
    """Make the facts of one patient's data.

    Only resources that classify into at least one value set (and the hook's draft orders) are
    validated with `validate` and become facts; the rest are never validated, which is what keeps a
    large record cheap. Raises InputFormatError when the data holds more than one patient.
    """
    builder = _Builder(fhir_input, terminology, now, validate)
    for resource in fhir_input.resources:
        builder.add(resource)
    facts = derive(builder.facts, builder.implications)
    unique = {fact.id: fact for fact in facts}
    return FactSet(
        facts=sorted(unique.values(), key=lambda f: f.id),
        patient_id=builder.patient_id,
        resources_read=len(fhir_input.resources),
        resources_validated=builder.validated,
    )


class _Builder:
    def __init__(
        self,
        fhir_input: FhirInput,
        terminology: Terminology,
        now: date,
        validate: Callable[[JsonObject], None],
    ) -> None:
        self.input = fhir_input
        self.terminology = terminology
        self.now = now
        self._validate = validate
        self._validated_ids: set[int] = set()
        self.medications = fhir_input.medication_index()
        self.facts: list[Fact] = []
        self.patient_id: str | None = None
        self.validated = 0
        self.implications: list[tuple[list[str], str]] = []
        self.coded_kinds = {
            kind for kind in ("condition", "observation", "procedure") if terminology.classifies(kind)
        }
        self.code_tokens = {kind: terminology.code_tokens(kind) for kind in self.coded_kinds}

    def validate(self, resource: JsonObject) -> None:
        """Validate a resource once, however many facts it gives."""
        if id(resource) not in self._validated_ids:
            self._validate(resource)
            self._validated_ids.add(id(resource))
            self.validated += 1

    def add(self, resource: Resource) -> None:
        resource_type = resource.resource_type
        if resource_type == "Patient":
            self._add_patient(resource.json)
        elif resource_type == "Medication":
            return
        elif _KIND_BY_TYPE.get(resource_type) == "medication":
            self._add_medication(resource)
        elif _KIND_BY_TYPE[resource_type] in self.coded_kinds:
            self._add_coded(resource, _KIND_BY_TYPE[resource_type])

    def _add_patient(self, resource: JsonObject) -> None:
        # Only the id is used (no fact comes from a Patient), so the resource is not validated: a
        # Synthea Patient's extensions cost more to validate than the rest of the evaluation.
        patient_id = resource.get("id")
        if patient_id is not None and not isinstance(patient_id, str):
            raise InputFormatError(f"{self.input.source}: Patient.id must be a string")
        if self.patient_id and patient_id and patient_id != self.patient_id:
            raise InputFormatError(
                f"{self.input.source}: holds more than one patient (Patient/{self.patient_id} and "
                f"Patient/{patient_id}); evaluate one patient at a time"
            )
        self.patient_id = patient_id or self.patient_id

    # -- medications -------------------------------------------------------------------------------

    def _medication_concepts(self, resource: JsonObject) -> tuple[list[Concept], JsonObject | None]:
        """Concepts naming the medication (product and ingredients) and the Medication resource used."""
        codeable = resource.get("medicationCodeableConcept")
        reference = resource.get("medicationReference")
        r5 = resource.get("medication")
        if isinstance(r5, dict):  # R5 CodeableReference
            codeable = codeable or r5.get("concept")
            reference = reference or r5.get("reference")
        concepts = [c for c in [concept_of(codeable)] if c]
        medication = self._resolve_medication(resource, reference)
        if medication is not None:
            concepts.extend(c for c in [concept_of(medication.get("code"))] if c)
            for ingredient in medication.get("ingredient") or []:
                item = ingredient.get("item")
                item_concept = ingredient.get("itemCodeableConcept") or (
                    item.get("concept") if isinstance(item, dict) else None
                )
                concepts.extend(c for c in [concept_of(item_concept)] if c)
        return concepts, medication

    def _resolve_medication(self, resource: JsonObject, reference: object) -> JsonObject | None:
        if not isinstance(reference, dict) or not isinstance(reference.get("reference"), str):
            return None
        ref: str = reference["reference"]
        if ref.startswith("#"):
            for contained in resource.get("contained") or []:
                if contained.get("resourceType") == "Medication" and contained.get("id") == ref[1:]:
                    return dict(contained)
            return None
        return self.medications.get(ref)

    def _add_medication(self, wrapped: Resource) -> None:
        resource = wrapped.json
        source = self.input.reference_of(wrapped)
        draft = source in self.input.draft_refs
        concepts, medication = self._medication_concepts(resource)
        matches = _merge(self.terminology.classify(c, "medication") for c in concepts)
        if not matches and not draft:
            return
        self.validate(resource)
        if medication is not None and medication.get("resourceType") == "Medication":
            self.validate(medication)
        if not matches:
            return
        label = concepts[0].label() if concepts else "unnamed medication"
        status = _normalise_status(resource.get("status"))
        start, end = _medication_period(resource)
        dosages = _dosages(resource)
        systemic = self._is_systemic(concepts, dosages, medication)
        current = status in _CURRENT_STATUSES and (end is None or end >= self.now)
        for match in matches:
            attributes: dict[str, Scalar] = {"systemic": systemic}
            attributes.update(_member_attributes(match))
            factor = match.member.attributes.get("prednisone_factor")
            if isinstance(factor, int | float) and systemic:
                daily = daily_dose_mg(dosages)
                if daily is not None:
                    attributes["pred_eq_mg_day"] = round(daily * float(factor), 2)
            self.facts.append(
                _fact(match, "medication", source, label, status, current, start, end, draft, attributes)
            )

    def _is_systemic(
        self, concepts: list[Concept], dosages: list[JsonObject], medication: JsonObject | None
    ) -> bool:
        route_concepts = [c for c in (concept_of(d.get("route")) for d in dosages) if c]
        if medication is not None:
            route_concepts.extend(c for c in [concept_of(medication.get("form"))] if c)
        route_concepts.extend(Concept((), text) for c in concepts for text in c.display_texts())
        return not any(self.terminology.any_match(c, "route") for c in route_concepts)

    # -- conditions, observations, procedures ------------------------------------------------------

    def _add_coded(self, wrapped: Resource, kind: str) -> None:
        tokens = self.code_tokens[kind]
        if tokens is not None and not wrapped.may_contain(tokens):
            return  # classified by code only, and none of the codes occurs in the raw JSON
        concept = concept_of(wrapped.peek_code())
        if concept is None:
            return
        matches = self.terminology.classify(concept, kind)
        if not matches:
            return
        resource = wrapped.json
        self.validate(resource)
        source = self.input.reference_of(wrapped)
        attributes: dict[str, Scalar] = {}
        if kind == "condition":
            status, current, start, end = self._condition_state(resource)
        elif kind == "observation":
            status = str(resource.get("status") or "unknown")
            current = status not in _OBSERVATION_VOID
            start, end = _period(resource, "effective")
            start = start or parse_date(resource.get("issued"))
            attributes = self._observation_values(resource)
            significance = attributes.get("significance")
            derived_from = [
                ref["reference"]
                for ref in resource.get("derivedFrom") or []
                if isinstance(ref, dict) and isinstance(ref.get("reference"), str)
            ]
            if isinstance(significance, str) and derived_from:
                self.implications.append((derived_from, significance))
        else:
            status = str(resource.get("status") or "unknown")
            current = status in _PROCEDURE_PRESENT
            start, end = _period(resource, "performed")
            if start is None:
                start, end = _period(resource, "occurrence")
        label = concept.label()
        for match in matches:
            fact_attributes = dict(attributes)
            fact_attributes.update(_member_attributes(match))
            self.facts.append(
                _fact(match, kind, source, label, status, current, start, end, False, fact_attributes)
            )

    def _condition_state(self, resource: JsonObject) -> tuple[str, bool, date | None, date | None]:
        verification = _first_code(resource.get("verificationStatus"))
        clinical = _first_code(resource.get("clinicalStatus")) or "active"
        status = (
            verification if verification in ("refuted", "entered-in-error") else _normalise_status(clinical)
        )
        start = parse_date(resource.get("onsetDateTime")) or parse_date(
            (resource.get("onsetPeriod") or {}).get("start")
        )
        start = start or parse_date(resource.get("recordedDate"))
        end = parse_date(resource.get("abatementDateTime")) or parse_date(
            (resource.get("abatementPeriod") or {}).get("end")
        )
        current = status == "active" and (end is None or end >= self.now)
        return status, current, start, end

    def _observation_values(self, resource: JsonObject) -> dict[str, Scalar]:
        values: dict[str, Scalar] = {}
        value_code = _first_code(resource.get("valueCodeableConcept"))
        if value_code:
            values["value_code"] = value_code
            value = concept_of(resource.get("valueCodeableConcept"))
            results = self.terminology.classify(value, "observation-value") if value else []
            if results:
                values["result"] = results[0].member.name
        quantity = resource.get("valueQuantity")
        if isinstance(quantity, dict) and isinstance(quantity.get("value"), int | float):
            values["value"] = quantity["value"]
            if quantity.get("unit") or quantity.get("code"):
                values["unit"] = str(quantity.get("code") or quantity.get("unit"))
        for component in resource.get("component") or []:
            code = _first_code(component.get("code"), system="http://loinc.org")
            value = concept_of(component.get("valueCodeableConcept"))
            if value is None:
                continue
            if _has_coding(component.get("code"), CHANGE_TYPE_COMPONENTS):
                # Unknown change types keep their label, so they never satisfy a rule naming a member.
                changes = self.terminology.classify(value, "change-type")
                values["change_type"] = changes[0].member.name if changes else value.label()
                continue
            if code == LOINC_GENE_STUDIED:
                genes = self.terminology.classify(value, "gene")
                values["gene"] = genes[0].member.name if genes else value.label()
            elif code == LOINC_CLINICAL_SIGNIFICANCE:
                # The value-set member name ('pathogenic'); an unknown answer keeps its code, so it
                # can never satisfy a rule that names a classification.
                known = self.terminology.classify(value, "significance")
                values["significance"] = known[0].member.name if known else value.label()
        return values


def _merge(groups: Iterable[list[ClassMatch]]) -> list[ClassMatch]:
    """Union of class matches over several concepts; a code match beats a name match."""
    merged: dict[tuple[str, str], ClassMatch] = {}
    for group in groups:
        for match in group:
            key = (match.value_set, match.member.name)
            if key not in merged or (merged[key].matched_by == "name" and match.matched_by == "code"):
                merged[key] = match
    return sorted(merged.values(), key=lambda m: (m.value_set, m.member.name))


def _member_attributes(match: ClassMatch) -> dict[str, Scalar]:
    return {k: v for k, v in match.member.attributes.items() if k in ENGINE_FIELDS}


def _fact(
    match: ClassMatch,
    kind: str,
    source: str,
    label: str,
    status: str,
    current: bool,
    start: date | None,
    end: date | None,
    draft: bool,
    attributes: Mapping[str, Scalar],
) -> Fact:
    return Fact(
        id=f"{source}#{match.value_set}:{match.member.name}",
        kind=kind,
        value_set=match.value_set,
        member=match.member.name,
        source=source,
        label=label,
        status=status,
        current=current,
        matched_by=match.matched_by,
        matched_code=match.code,
        start=start,
        end=end,
        draft=draft,
        unverified=match.member.unverified,
        attributes=dict(attributes),
    )


def _normalise_status(status: object) -> str:
    text = str(status or "unknown")
    return _STATUS_MAP.get(text, text)


def _first_code(codeable: object, system: str | None = None) -> str | None:
    if not isinstance(codeable, dict):
        return None
    for coding in codeable.get("coding") or []:
        if (
            isinstance(coding, dict)
            and coding.get("code")
            and (system is None or coding.get("system") == system)
        ):
            return str(coding["code"])
    return None


def _has_coding(codeable: object, wanted: Iterable[tuple[str, str]]) -> bool:
    """Whether a CodeableConcept carries any of the (system, code) pairs."""
    if not isinstance(codeable, dict):
        return False
    pairs = set(wanted)
    return any(
        isinstance(coding, dict) and (coding.get("system"), coding.get("code")) in pairs
        for coding in codeable.get("coding") or []
    )


def _period(resource: JsonObject, prefix: str) -> tuple[date | None, date | None]:
    period = resource.get(f"{prefix}Period")
    if isinstance(period, dict):
        return parse_date(period.get("start")), parse_date(period.get("end"))
    return parse_date(resource.get(f"{prefix}DateTime")), None


def _dosages(resource: JsonObject) -> list[JsonObject]:
    if resource.get("resourceType") == "MedicationAdministration":
        dosage = resource.get("dosage")
        if not isinstance(dosage, dict):
            return []
        # One administration is one dose, not a daily regimen: keep its route, leave the daily dose unknown.
        return [{"route": dosage.get("route")}]
    dosages = resource.get("dosageInstruction") or resource.get("dosage") or []
    return [d for d in dosages if isinstance(d, dict)]


def _medication_period(resource: JsonObject) -> tuple[date | None, date | None]:
    start, end = _period(resource, "effective")
    if start is None and end is None:
        for dosage in _dosages(resource):
            timing = dosage.get("timing")
            repeat = timing.get("repeat") if isinstance(timing, dict) else None
            bounds = repeat.get("boundsPeriod") if isinstance(repeat, dict) else None
            if isinstance(bounds, dict):
                start, end = parse_date(bounds.get("start")), parse_date(bounds.get("end"))
                break
    start = start or parse_date(resource.get("authoredOn")) or parse_date(resource.get("dateAsserted"))
    return start, end
