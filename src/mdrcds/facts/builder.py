"""Facts from one patient's FHIR data: the walk over the resources, delegating each clinical concept
to its module (exposure, dose, conditions, genomics) and the aggregates to `derived` (pure: it reads
JSON dicts and calls the validator it is given)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import date

import orjson

from mdrcds.errors import InputFormatError, MdrcdsError
from mdrcds.facts import derived
from mdrcds.facts.conditions import condition_state, in_other_context, treatment_induced
from mdrcds.facts.dose import (
    Strength,
    as_written,
    daily_dose,
    needs_body_weight,
    strength_from_ingredient,
    strength_from_name,
)
from mdrcds.facts.exposure import Exposure, dosages, exposure_of
from mdrcds.facts.fhirjson import (
    JsonObject,
    as_list,
    codeable_texts,
    concept_of,
    confidentiality,
    first_code,
    parse_date,
    period,
)
from mdrcds.facts.genomics import Annotation, annotation_of, variant_values
from mdrcds.facts.model import ENGINE_FIELDS, Fact, FactSet, Scalar
from mdrcds.facts.route import NOT_STATED_NOTE, Route, route_of
from mdrcds.facts.screen import BODY_WEIGHT, KIND_BY_TYPE, RESOLVED_ELSEWHERE, screen_for
from mdrcds.knowledge.terminology import ClassMatch, Concept, Terminology
from mdrcds.reading.fhir import FhirInput, Resource

_OBSERVATION_VOID = frozenset({"cancelled", "entered-in-error"})
_PROCEDURE_PRESENT = frozenset({"completed", "in-progress"})
GENOMIC_VARIANT = "genomic-variant"
GENOMIC_ANNOTATION = "genomic-diagnostic-implication"
PREDNISONE_THRESHOLD_MG = 10.0  # Arbour et al. 2018: >= 10 mg/day prednisone-equivalent at ICI start
PREMEDICATION_MAX_DAYS = 3
_KG_PER_UNIT = {"kg": 1.0, "g": 0.001, "[lb_av]": 0.45359237, "lb": 0.45359237, "lbs": 0.45359237}
_PREMEDICATION_CUES = (
    "premedication",
    "premed",
    "pre medication",
    "pre-medication",
    "prior to chemotherapy",
    "before chemotherapy",
    "prior to infusion",
    "before infusion",
    "hypersensitivity prophylaxis",
    "infusion reaction",
    "antiemetic",
    "anti emetic",
    "nausea",
    "emesis",
    "vomiting",
    "cinv",
)


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
    facts = derived.derive(builder.facts, builder.own_annotations, builder.annotations, builder.aliases, now)
    if builder.confidentiality:
        facts = [_labelled(fact, builder.confidentiality) for fact in facts]
    unique = {fact.id: fact for fact in facts}
    return FactSet(
        facts=sorted(unique.values(), key=lambda f: f.id),
        patient_id=builder.patient_id,
        resources_read=fhir_input.resource_count,
        resources_validated=builder.validated,
        deceased=builder.deceased,
        deferred=tuple(builder.deferred),
    )


def _labelled(fact: Fact, labels: dict[str, str]) -> Fact:
    label = labels.get(fact.source)
    if label is None:
        return fact
    return fact.with_attributes({**fact.attributes, "confidentiality": label})


def _deceased(patient: JsonObject, now: date) -> str | None:
    """How the Patient records death by `now` ('deceasedDateTime 2026-10-01', 'deceasedBoolean true'),
    or None. A death dated after `now` is not yet a death at `now`."""
    if patient.get("deceasedBoolean") is True:
        return "deceasedBoolean true"
    died = parse_date(patient.get("deceasedDateTime"))
    if died is not None and died <= now:
        return f"deceasedDateTime {died.isoformat()}"
    return None


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
        self.deferred: list[JsonObject] = []
        """Resources whose facts are all of the past, not yet validated (see `_keep`)."""
        self.medications = fhir_input.medication_index()
        self.facts: list[Fact] = []
        self.patient_id: str | None = None
        self.deceased: str | None = None
        self.confidentiality: dict[str, str] = {}
        self.validated = 0
        self.own_annotations: dict[str, Annotation] = {}
        self.annotations: list[tuple[list[str], Annotation]] = []
        self.aliases: dict[str, str] = {}
        self.screen = screen_for(terminology)
        self.coded_kinds = self.screen.coded_kinds
        self._weight: tuple[float | None] | None = None
        self._named: dict[bytes, tuple[list[Concept], list[ClassMatch]]] = {}
        """Per medicationCodeableConcept (its JSON) of records without a Medication to resolve: its
        concepts and value-set matches (they depend on that concept alone)."""
        self._routes: dict[tuple[bytes, bytes], Route] = {}
        """Per concept and dosage JSON of such records: the route (it depends on those alone)."""

    @property
    def weight_kg(self) -> float | None:
        """The patient's body weight, looked up only when a dose needs it (most records never do)."""
        if self._weight is None:
            self._weight = (_body_weight(self.input.resources, self.now),)
        return self._weight[0]

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
        elif KIND_BY_TYPE.get(resource_type) == "medication":
            self._add_medication(resource)
        elif KIND_BY_TYPE.get(resource_type) in self.coded_kinds:
            self._add_coded(resource, KIND_BY_TYPE[resource_type])

    def _source(self, wrapped: Resource) -> str:
        """The fact source ('Type/id'), remembered under the Bundle fullUrl too for derivedFrom links,
        with the resource's confidentiality label when it has one."""
        source = self.input.reference_of(wrapped)
        if wrapped.full_url:
            self.aliases[wrapped.full_url] = source
        label = confidentiality(wrapped.json)
        if label is not None:
            self.confidentiality[source] = label
        return source

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
        self.deceased = self.deceased or _deceased(resource, self.now)

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
            for ingredient in _ingredients(medication):
                concepts.extend(c for c in [concept_of(_ingredient_item(ingredient))] if c)
        return concepts, medication

    def _resolve_medication(self, resource: JsonObject, reference: object) -> JsonObject | None:
        if not isinstance(reference, dict) or not isinstance(reference.get("reference"), str):
            return None
        ref: str = reference["reference"]
        if ref.startswith("#"):
            for contained in as_list(resource.get("contained")):
                if (
                    isinstance(contained, dict)
                    and contained.get("resourceType") == "Medication"
                    and contained.get("id") == ref[1:]
                ):
                    return dict(contained)
            return None
        return self.medications.get(ref)

    def _add_medication(self, wrapped: Resource) -> None:
        if self._irrelevant_medication(wrapped):
            return
        twice = wrapped.named_twice()
        if twice is not None:
            # Which of the two is the drug? The reader's first and the converted resource's last
            # disagree, so neither may decide a medication fact.
            raise InputFormatError(
                f"{wrapped.where}: {wrapped.resource_type} names {twice!r} twice; a JSON object names "
                "each member once"
            )
        resource = wrapped.json
        # A record naming its drug by a concept alone: what depends on that concept is worked out once
        # per distinct concept (a chemotherapy course repeats one drug on hundreds of orders). The key
        # is made from the converted resource, the very data the concepts are made from: raw JSON may
        # name an element twice, and the raw node and the converted dict disagree on which one counts.
        named_by = _concept_key(resource)
        source = self._source(wrapped)
        draft = source in self.input.draft_refs
        named = self._named.get(named_by) if named_by is not None else None
        if named is None:
            concepts, medication = self._medication_concepts(resource)
            matches = _merge(self.terminology.classify(c, "medication") for c in concepts)
            if named_by is not None:
                self._named[named_by] = (concepts, matches)
        else:
            (concepts, matches), medication = named, None
        if not matches and not draft:
            return
        checked = [
            resource,
            *([medication] if medication and medication.get("resourceType") == "Medication" else []),
        ]
        if draft:
            for item in checked:
                self.validate(item)
        if not matches:
            return
        with self._validated_on_failure(checked):
            made = self._medication_facts(resource, source, draft, concepts, medication, matches, named_by)
        self._keep(made, checked, eager=draft)

    def _medication_facts(
        self,
        resource: JsonObject,
        source: str,
        draft: bool,
        concepts: list[Concept],
        medication: JsonObject | None,
        matches: list[ClassMatch],
        named_by: bytes | None = None,
    ) -> list[Fact]:
        made: list[Fact] = []
        label = concepts[0].label() if concepts else "unnamed medication"
        exposure = exposure_of(resource)
        status = "do-not-perform" if resource.get("doNotPerform") is True else exposure.status
        instructions = dosages(resource)
        route = self._route(concepts, instructions, medication, resource, named_by)
        systemic = route.systemic
        for match in matches:
            look_back = self._look_back_days(match)
            attributes: dict[str, Scalar] = {"systemic": systemic}
            if not route.stated:
                attributes["route_note"] = NOT_STATED_NOTE
            elif not systemic:
                attributes["route_note"] = f"not systemic: {route.why}"
            attributes.update(_member_attributes(match))
            note = _exposure_note(exposure, look_back, self.now)
            if note:
                attributes["exposure_note"] = note
            factor = match.member.attributes.get("prednisone_factor")
            if isinstance(factor, int | float) and systemic:
                strength = self._strength(match, medication, concepts)
                attributes.update(
                    self._steroid_dose(resource, instructions, float(factor), strength, exposure)
                )
            made.append(
                _fact(
                    match,
                    "medication",
                    source,
                    label,
                    status,
                    exposure.current(self.now, look_back),
                    exposure.start,
                    exposure.end,
                    draft,
                    attributes,
                    exposure.until(look_back),
                )
            )
        return made

    def _route(
        self,
        concepts: list[Concept],
        instructions: list[JsonObject],
        medication: JsonObject | None,
        resource: JsonObject,
        named_by: bytes | None,
    ) -> Route:
        """The record's route (`route_of`), remembered per concept and dosage for concept-named records
        (`named_by`: they have no Medication, so `route_of` reads nothing else)."""
        if named_by is None:
            return route_of(self.terminology, concepts, instructions, medication, resource)
        try:
            key = (named_by, orjson.dumps(instructions))
        except orjson.JSONEncodeError:
            return route_of(self.terminology, concepts, instructions, medication, resource)
        route = self._routes.get(key)
        if route is None:
            route = self._routes[key] = route_of(
                self.terminology, concepts, instructions, medication, resource
            )
        return route

    @contextmanager
    def _validated_on_failure(self, resources: list[JsonObject]) -> Iterator[None]:
        """Facts are made before validation (see `_keep`): should an unvalidated resource's shape make
        fact-making fail, validating it names the defect (FhirValidationError) instead."""
        try:
            yield
        except MdrcdsError:
            raise
        except Exception:
            for resource in resources:
                self.validate(resource)
            raise

    def _keep(self, made: list[Fact], resources: list[JsonObject], eager: bool) -> None:
        """Add a resource's facts. Its resources are validated now when a fact is current (or a draft
        order): what a card about current treatment rests on. Facts only of the past (a stopped order of
        years ago) are validated when the patient has any rule match (`FactSet.validate_deferred`),
        which is what keeps a long treatment history cheap (docs/decisions/0011)."""
        if eager or any(fact.current for fact in made):
            for resource in resources:
                self.validate(resource)
        else:
            self.deferred.extend(r for r in resources if id(r) not in self._validated_ids)
        self.facts.extend(made)

    def _irrelevant_medication(self, wrapped: Resource) -> bool:
        """True when nothing about this record can become a fact, found without converting it (see
        `ResourceScreen.medication_irrelevant`) and it is not one of the hook's draft orders."""
        if not self.screen.medication_irrelevant(wrapped):
            return False
        return not self.input.draft_refs or self.input.reference_of(wrapped) not in self.input.draft_refs

    def _look_back_days(self, match: ClassMatch) -> int:
        own = match.member.attributes.get("exposure_after_last_dose_days")
        if isinstance(own, int | float):
            return int(own)
        return self.terminology.value_sets[match.value_set].exposure_after_last_dose_days

    def _strength(
        self, match: ClassMatch, medication: JsonObject | None, concepts: list[Concept]
    ) -> Strength | None:
        """The product strength of this member's ingredient: the Medication's, else the product name's."""
        if medication is not None:
            ingredients = _ingredients(medication)
            for ingredient in ingredients:
                item = concept_of(_ingredient_item(ingredient))
                found = self.terminology.classify(item, "medication") if item else []
                if len(ingredients) == 1 or any(m.member.name == match.member.name for m in found):
                    strength = strength_from_ingredient(ingredient)
                    if strength is not None:
                        return strength
        for concept in concepts:
            for text in concept.display_texts():
                strength = strength_from_name(text)
                if strength is not None:
                    return strength
        return None

    def _steroid_dose(
        self,
        resource: JsonObject,
        instructions: list[JsonObject],
        factor: float,
        strength: Strength | None,
        exposure: Exposure,
    ) -> dict[str, Scalar]:
        weight = self.weight_kg if needs_body_weight(instructions) else None
        dose = daily_dose(instructions, strength, weight)
        attributes: dict[str, Scalar] = {}
        if dose.mg is None:
            attributes["pred_eq_band"] = "not-computable"
            attributes["dose_summary"] = "dose not computable"
            attributes["dose_note"] = f"prednisone-equivalent dose not computable: {dose.reason}"
        else:
            equivalent = round(dose.mg * factor, 2)
            attributes["pred_eq_mg_day"] = equivalent
            attributes["pred_eq_band"] = "10-or-more" if equivalent >= PREDNISONE_THRESHOLD_MG else "under-10"
            attributes["dose_summary"] = f"{as_written(equivalent)} mg/day prednisone-equivalent"
            attributes["dose_note"] = attributes["dose_summary"]
        reason = _premedication_reason(resource)
        short = exposure.course_days is not None and exposure.course_days <= PREMEDICATION_MAX_DAYS
        attributes["premedication"] = reason or short
        attributes["premedication_by_reason"] = reason
        return attributes

    # -- conditions, observations, procedures ------------------------------------------------------

    def _add_coded(self, wrapped: Resource, kind: str) -> None:
        found = self.screen.coded_matches(wrapped, kind)
        if found is None:
            return
        concept, matches = found
        if matches and kind in ("condition", "procedure"):
            resource_json = wrapped.json
            # Codes outrank free text: where the code places the concept in a value set, words in its
            # text cannot take it out again (and ConText need not read them).
            coded = {m.value_set for m in matches if m.matched_by == "code"}
            matches = [
                m
                for m in matches
                if not in_other_context(concept, m.member.names(), resource_json, m.value_set in coded)
            ]
        if not matches:
            return
        resource = wrapped.json
        with self._validated_on_failure([resource]):
            made = self._coded_facts(wrapped, resource, kind, concept, matches)
        self._keep(made, [resource], eager=False)

    def _coded_facts(
        self, wrapped: Resource, resource: JsonObject, kind: str, concept: Concept, matches: list[ClassMatch]
    ) -> list[Fact]:
        made: list[Fact] = []
        source = self._source(wrapped)
        attributes: dict[str, Scalar] = {}
        if kind == "condition":
            state = condition_state(resource, self.now)
            status, current, start, end = state.status, state.current, state.start, state.end
            attributes["onset_known"] = state.onset is not None
            attributes["treatment_induced"] = treatment_induced(concept)
            if state.recorded is not None:
                attributes["recorded"] = state.recorded.isoformat()
        elif kind == "observation":
            status = str(resource.get("status") or "unknown")
            current = status not in _OBSERVATION_VOID
            start, end = period(resource, "effective")
            start = start or parse_date(resource.get("issued"))
            attributes = self._observation_values(resource)
            self._collect_annotations(resource, source, matches)
        else:
            status = str(resource.get("status") or "unknown")
            current = status in _PROCEDURE_PRESENT
            start, end = period(resource, "performed")
            if start is None:
                start, end = period(resource, "occurrence")
        label = concept.label()
        for match in matches:
            fact_attributes = dict(attributes)
            if match.value_set == GENOMIC_VARIANT:
                fact_attributes.update(variant_values(resource, self.terminology))
            fact_attributes.update(_member_attributes(match))
            made.append(
                _fact(match, kind, source, label, status, current, start, end, False, fact_attributes)
            )
        return made

    def _collect_annotations(self, resource: JsonObject, source: str, matches: list[ClassMatch]) -> None:
        """Variant annotations: the variant's own, and those an annotation Observation gives the
        variants it was derived from (linked after all resources are read)."""
        value_sets = {m.value_set for m in matches}
        if not value_sets & {GENOMIC_VARIANT, GENOMIC_ANNOTATION}:
            return
        note = annotation_of(resource, self.terminology)
        if GENOMIC_VARIANT in value_sets:
            self.own_annotations[source] = note
        if GENOMIC_ANNOTATION in value_sets:
            references = [
                ref["reference"]
                for ref in as_list(resource.get("derivedFrom")) + as_list(resource.get("focus"))
                if isinstance(ref, dict) and isinstance(ref.get("reference"), str)
            ]
            if references:
                self.annotations.append((references, note))

    def _observation_values(self, resource: JsonObject) -> dict[str, Scalar]:
        values: dict[str, Scalar] = {}
        value_code = first_code(resource.get("valueCodeableConcept"))
        if value_code:
            values["value_code"] = value_code
            value = concept_of(resource.get("valueCodeableConcept"))
            results = self.terminology.classify(value, "observation-value") if value else []
            if results:
                values["result"] = results[0].member.name
        quantity = resource.get("valueQuantity")
        if isinstance(quantity, dict) and _finite(quantity.get("value")):
            values["value"] = quantity["value"]
            unit = quantity.get("code") or quantity.get("unit")
            if isinstance(unit, str) and unit:
                values["unit"] = unit
        return values


def _finite(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and value == value
        and abs(value) < float("inf")
    )


def _concept_key(resource: JsonObject) -> bytes | None:
    """The JSON of a medication record's `medicationCodeableConcept` when the record names its drug by
    that concept alone (no Medication to resolve); None otherwise, or when it cannot be written."""
    if any(name in resource for name in RESOLVED_ELSEWHERE):
        return None
    try:
        return orjson.dumps(resource.get("medicationCodeableConcept"))
    except orjson.JSONEncodeError:
        return None


def _ingredients(medication: JsonObject) -> list[JsonObject]:
    return [i for i in as_list(medication.get("ingredient")) if isinstance(i, dict)]


def _ingredient_item(ingredient: JsonObject) -> object:
    item = ingredient.get("item")
    return ingredient.get("itemCodeableConcept") or (item.get("concept") if isinstance(item, dict) else None)


def _premedication_reason(resource: JsonObject) -> bool:
    """Whether the record gives premedication (antiemetic, infusion-reaction prophylaxis) as its reason."""
    texts = list(codeable_texts(resource.get("reasonCode")))
    texts += codeable_texts(resource.get("reasonReference"))
    texts += codeable_texts(resource.get("reason"))
    for dosage in dosages(resource):
        texts += [dosage["text"]] if isinstance(dosage.get("text"), str) else []
        texts += codeable_texts(dosage.get("additionalInstruction"))
        texts += [dosage["patientInstruction"]] if isinstance(dosage.get("patientInstruction"), str) else []
    lowered = " ".join(texts).lower()
    return any(cue in lowered for cue in _PREMEDICATION_CUES)


def _exposure_note(exposure: Exposure, look_back: int, now: date) -> str | None:
    """Why a finished record still counts, or why an open order no longer does, for the card line."""
    last = exposure.last_dose
    if exposure.void or last is None:
        return None
    if not exposure.ongoing and look_back and exposure.current(now, look_back):
        return f"last dose {last.isoformat()}, counted as exposure for {look_back} days after a last dose"
    if exposure.ongoing and exposure.end is not None and exposure.end < now:
        return f"course ended {exposure.end.isoformat()}"
    return None


def _body_weight(resources: list[Resource], now: date) -> float | None:
    """The most recent body weight (kg) on or before `now`, from Observations coded LOINC 29463-7."""
    best: tuple[date, float] | None = None
    for resource in resources:
        if resource.resource_type != "Observation" or not resource.may_match(BODY_WEIGHT):
            continue
        if first_code(resource.peek_code(), system="http://loinc.org") != "29463-7":
            continue
        data = resource.json
        if data.get("status") in ("cancelled", "entered-in-error"):
            continue
        quantity = data.get("valueQuantity")
        if not isinstance(quantity, dict) or not _finite(quantity.get("value")):
            continue
        unit = str(quantity.get("code") or quantity.get("unit") or "").strip().lower()
        factor = _KG_PER_UNIT.get(unit)
        when = period(data, "effective")[0] or parse_date(data.get("issued"))
        if factor is None or when is None or when > now or not 0 < quantity["value"] * factor < 700:
            continue
        if best is None or when > best[0]:
            best = (when, float(quantity["value"]) * factor)
    return best[1] if best else None


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
    attributes: dict[str, Scalar],
    exposure_until: date | None = None,
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
        exposure_until=exposure_until,
        attributes=attributes,
    )
