from __future__ import annotations

from datetime import date
from typing import Any

import orjson
import pytest

from conftest import NOW, bundle, hook_request, medication_request
from mdrcds.cards.render import rule_of
from mdrcds.errors import FhirValidationError, InputFormatError
from mdrcds.facts import Fact, extract_facts, parse_date
from mdrcds.knowledge.rulebook import Rulebook
from mdrcds.knowledge.terminology import Code, Member, Terminology, ValueSet
from mdrcds.reading.fhir import read_bytes, validator
from mdrcds.reasoning.engine import Engine
from mdrcds.service import evaluate


def code_only(value_set: str, kind: str, member: str, system: str, code: str) -> ValueSet:
    """A one-member value set that classifies by a single code (no name matching)."""
    return ValueSet(value_set, value_set, (kind,), (Member(member, (Code(system, code),), match_name=False),))


def facts_of(document: dict[str, Any], terminology: Terminology, now: date = NOW) -> list[Fact]:
    return extract_facts(read_bytes(orjson.dumps(document)), terminology, now, validator("R4")).facts


def one(facts: list[Fact], value_set: str) -> Fact:
    [fact] = [f for f in facts if f.value_set == value_set]
    return fact


def test_medication_fact_has_provenance_status_and_match(rulebook: Rulebook) -> None:
    doc = bundle([medication_request("m1", "active", code="11170", display="verapamil")])
    fact = one(facts_of(doc, rulebook.terminology), "pgp-inhibitor")
    assert fact.id == "MedicationRequest/m1#pgp-inhibitor:verapamil"
    assert (fact.source, fact.status, fact.current, fact.matched_by, fact.matched_code) == (
        "MedicationRequest/m1",
        "active",
        True,
        "code",
        "rxnorm 11170",
    )
    assert fact.start == date(2026, 10, 1) and fact.attributes["systemic"] is True


@pytest.mark.parametrize("status", ["stopped", "completed", "cancelled", "entered-in-error"])
def test_ended_statuses_are_not_current(rulebook: Rulebook, status: str) -> None:
    doc = bundle([medication_request("m1", status, code="11170")])
    assert one(facts_of(doc, rulebook.terminology), "pgp-inhibitor").current is False


def test_active_with_an_end_date_before_now_is_not_current(rulebook: Rulebook) -> None:
    request = medication_request("m1", "active", code="11170")
    request["dosageInstruction"] = [
        {"timing": {"repeat": {"boundsPeriod": {"start": "2026-01-01", "end": "2026-02-01"}}}}
    ]
    fact = one(facts_of(bundle([request]), rulebook.terminology), "pgp-inhibitor")
    assert (fact.start, fact.end, fact.current) == (date(2026, 1, 1), date(2026, 2, 1), False)


def test_ophthalmic_product_and_topical_route_are_not_systemic(rulebook: Rulebook) -> None:
    eye = medication_request("e", "active", text="Cyclosporine 0.5 MG/ML Ophthalmic Emulsion")
    cream = medication_request("c", "active", code="6135", display="ketoconazole")
    cream["dosageInstruction"] = [
        {"route": {"coding": [{"system": "http://snomed.info/sct", "code": "6064005"}]}}
    ]
    facts = facts_of(bundle([eye, cream]), rulebook.terminology)
    assert {f.member: f.attributes["systemic"] for f in facts} == {
        "cyclosporine": False,
        "ketoconazole": False,
    }


def test_prednisone_equivalent_daily_dose(rulebook: Rulebook) -> None:
    dexa = medication_request("d", "active", code="3264", display="dexamethasone")
    dexa["dosageInstruction"] = [
        {
            "route": {"coding": [{"system": "http://snomed.info/sct", "code": "26643006"}]},
            "timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}},
            "doseAndRate": [{"doseQuantity": {"value": 4, "unit": "mg"}}],
        }
    ]
    inhaled = medication_request("i", "active", text="Prednisolone inhalation solution", code="8638")
    inhaled["dosageInstruction"] = [{"doseAndRate": [{"doseQuantity": {"value": 10, "unit": "mg"}}]}]
    facts = facts_of(bundle([dexa, inhaled]), rulebook.terminology)
    assert one([f for f in facts if f.member == "dexamethasone"], "systemic-corticosteroid").attributes[
        "pred_eq_mg_day"
    ] == pytest.approx(53.36)
    assert (
        "pred_eq_mg_day"
        not in one([f for f in facts if f.member == "prednisolone"], "systemic-corticosteroid").attributes
    )


def test_medication_reference_to_bundled_medication(rulebook: Rulebook) -> None:
    medication = {
        "resourceType": "Medication",
        "id": "med1",
        "code": {"text": "Docetaxel 20 MG/ML Injection"},
    }
    request = medication_request("m1", "active")
    del request["medicationCodeableConcept"]
    request["medicationReference"] = {"reference": "Medication/med1"}
    fact = one(
        facts_of(bundle([medication, request], "collection"), rulebook.terminology),
        "pgp-substrate-chemotherapy",
    )
    assert (fact.member, fact.matched_by, fact.label) == ("docetaxel", "name", "Docetaxel 20 MG/ML Injection")


def test_statement_and_administration_statuses(rulebook: Rulebook) -> None:
    statement = {
        "resourceType": "MedicationStatement",
        "id": "s1",
        "status": "active",
        "medicationCodeableConcept": {
            "coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "703"}]
        },
        "subject": {"reference": "Patient/p1"},
        "effectivePeriod": {"start": "2025-01-01"},
    }
    administration = {
        "resourceType": "MedicationAdministration",
        "id": "a1",
        "status": "in-progress",
        "medicationCodeableConcept": {"text": "nivolumab 240 mg"},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2026-11-20T10:00:00Z",
    }
    facts = facts_of(bundle([statement, administration]), rulebook.terminology)
    assert [(f.source, f.status, f.current) for f in facts] == [
        ("MedicationAdministration/a1", "active", True),
        ("MedicationStatement/s1", "active", True),
    ]


def test_irrelevant_resources_are_not_validated(rulebook: Rulebook) -> None:
    broken_irrelevant = medication_request("x", "active", text="ondansetron", authoredOn="not a date")
    fact_set = extract_facts(
        read_bytes(orjson.dumps(bundle([broken_irrelevant]))), rulebook.terminology, NOW, validator()
    )
    assert fact_set.facts == [] and fact_set.resources_validated == 0


def test_relevant_invalid_resource_raises(rulebook: Rulebook) -> None:
    broken = medication_request("x", "active", code="11170", authoredOn="2026-02-30T25:00")
    with pytest.raises(FhirValidationError, match="MedicationRequest/x at authoredOn"):
        facts_of(bundle([broken]), rulebook.terminology)


def test_draft_orders_are_always_validated_and_marked(rulebook: Rulebook) -> None:
    draft = medication_request("d", "draft", code="1547545")
    facts = facts_of(hook_request("order-sign", drafts=[draft]), rulebook.terminology)
    assert [(f.member, f.draft, f.current) for f in facts] == [("pembrolizumab", True, True)]
    unknown = medication_request("u", "draft", text="ondansetron", authoredOn="bad")
    with pytest.raises(FhirValidationError):
        facts_of(hook_request("order-sign", drafts=[unknown]), rulebook.terminology)


def test_two_patients_are_refused(rulebook: Rulebook) -> None:
    doc = bundle([{"resourceType": "Patient", "id": "a"}, {"resourceType": "Patient", "id": "b"}])
    with pytest.raises(InputFormatError, match="more than one patient"):
        facts_of(doc, rulebook.terminology)


def observation_terminology() -> Terminology:
    return Terminology(
        [
            code_only("genomic-variant", "observation", "variant", "loinc", "69548-6"),
            code_only("jak", "gene", "JAK1", "hgnc", "HGNC:6190"),
            ValueSet(
                "sig",
                "Significance",
                ("significance",),
                (Member("pathogenic", (Code("loinc", "LA6668-3"),)),),
            ),
        ]
    )


def test_observation_components_give_gene_and_significance() -> None:
    observation = {
        "resourceType": "Observation",
        "id": "v1",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "69548-6"}]},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2026-05-01",
        "valueCodeableConcept": {"coding": [{"system": "http://loinc.org", "code": "LA9633-4"}]},
        "component": [
            {
                "code": {"coding": [{"system": "http://loinc.org", "code": "48018-6"}]},
                "valueCodeableConcept": {
                    "coding": [{"system": "http://www.genenames.org", "code": "HGNC:6190"}]
                },
            },
            {
                "code": {"coding": [{"system": "http://loinc.org", "code": "53037-8"}]},
                "valueCodeableConcept": {"coding": [{"system": "http://loinc.org", "code": "LA6668-3"}]},
            },
        ],
    }
    [fact] = facts_of(bundle([observation]), observation_terminology())
    assert (fact.kind, fact.start, fact.current) == ("observation", date(2026, 5, 1), True)
    assert fact.attributes == {
        "value_code": "LA9633-4",
        "gene": "JAK1",
        "significance": "pathogenic",
        "presence": "indeterminate",  # LA9633-4 is not in this small terminology's presence value set
        "loss_of_function": "unknown",
        "loss_policy": "explicit",
        "variant_name": "JAK1",
    }


@pytest.mark.parametrize(
    ("component_code", "change", "expected"),
    [
        # Genomics Reporting STU3: LOINC 48019-4 DNA change type.
        (
            {"system": "http://loinc.org", "code": "48019-4"},
            ("http://www.sequenceontology.org", "SO:0001742"),
            "gain",
        ),
        # mCODE STU4: GR 'molecular-consequence', Sequence Ontology URI with a trailing slash.
        (
            {
                "system": "http://hl7.org/fhir/uv/genomics-reporting/CodeSystem/tbd-codes-cs",
                "code": "molecular-consequence",
            },
            ("http://www.sequenceontology.org/", "SO:0001742"),
            "gain",
        ),
        # An unknown change keeps its display, so it can never equal a member name.
        (
            {"system": "http://loinc.org", "code": "48019-4"},
            ("http://www.sequenceontology.org", "SO:0001019"),
            "copy_number_variation",
        ),
    ],
)
def test_variant_change_type(component_code: dict[str, str], change: tuple[str, str], expected: str) -> None:
    terminology = Terminology(
        [
            code_only("genomic-variant", "observation", "variant", "loinc", "69548-6"),
            code_only("change", "change-type", "gain", "sequence-ontology", "SO:0001742"),
        ]
    )
    system, code = change
    observation = {
        "resourceType": "Observation",
        "id": "cnv",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "69548-6"}]},
        "effectiveDateTime": "2026-05-01",
        "component": [
            {
                "code": {"coding": [component_code]},
                "valueCodeableConcept": {
                    "coding": [{"system": system, "code": code, "display": "copy_number_variation"}]
                },
            }
        ],
    }
    [fact] = facts_of(bundle([observation]), terminology)
    assert fact.attributes["change_type"] == expected


def test_condition_status_and_refuted() -> None:
    terminology = Terminology([code_only("nsclc", "condition", "NSCLC", "snomed", "254637007")])

    def condition(cid: str, clinical: str, verification: str = "confirmed", **extra: Any) -> dict[str, Any]:
        return {
            "resourceType": "Condition",
            "id": cid,
            "clinicalStatus": {"coding": [{"code": clinical}]},
            "verificationStatus": {"coding": [{"code": verification}]},
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "254637007"}]},
            "subject": {"reference": "Patient/p1"},
            **extra,
        }

    facts = facts_of(
        bundle(
            [
                condition("a", "active"),
                condition("b", "resolved"),
                condition("c", "active", "refuted"),
                condition("d", "relapse", onsetDateTime="2024"),
            ]
        ),
        terminology,
    )
    assert [(f.source, f.status, f.current, f.start) for f in facts] == [
        ("Condition/a", "active", True, None),
        ("Condition/b", "resolved", False, None),
        ("Condition/c", "refuted", False, None),
        ("Condition/d", "active", True, date(2024, 1, 1)),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2020", date(2020, 1, 1)),
        ("2020-03", date(2020, 3, 1)),
        ("2020-03-04T10:00:00+02:00", date(2020, 3, 4)),
        ("x", None),
        (None, None),
    ],
)
def test_parse_date(text: object, expected: date | None) -> None:
    assert parse_date(text) == expected


def test_first_in_class_is_the_earliest_exposure(rulebook: Rulebook) -> None:
    old = medication_request("old", "completed", code="1597876", authored="2025-01-10")
    cancelled = medication_request("void", "cancelled", code="1597876", authored="2024-01-01")
    new = medication_request("new", "draft", code="1547545", authored="2026-11-20")
    facts = facts_of(bundle([old, cancelled, new]), rulebook.terminology)
    first = {f.source: f.attributes["first_in_class"] for f in facts if f.value_set == "checkpoint-inhibitor"}
    assert first == {
        "MedicationRequest/old": True,
        "MedicationRequest/void": False,
        "MedicationRequest/new": False,
    }
    only = facts_of(bundle([new]), rulebook.terminology)
    assert one(only, "checkpoint-inhibitor").attributes["first_in_class"] is True


def test_significance_from_a_diagnostic_implication_observation() -> None:
    terminology = Terminology(
        [
            code_only("genomic-variant", "observation", "v", "loinc", "69548-6"),
            code_only(
                "genomic-diagnostic-implication", "observation", "i", "genomics-tbd", "diagnostic-implication"
            ),
        ]
    )
    variant = {
        "resourceType": "Observation",
        "id": "var",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "69548-6"}]},
    }
    implication = {
        "resourceType": "Observation",
        "id": "imp",
        "status": "final",
        "code": {
            "coding": [
                {
                    "system": "http://hl7.org/fhir/uv/genomics-reporting/CodeSystem/tbd-codes-cs",
                    "code": "diagnostic-implication",
                }
            ]
        },
        "derivedFrom": [{"reference": "Observation/var"}],
        "component": [
            {
                "code": {"coding": [{"system": "http://loinc.org", "code": "53037-8"}]},
                "valueCodeableConcept": {"coding": [{"system": "http://loinc.org", "code": "LA6668-3"}]},
            }
        ],
    }
    facts = facts_of(bundle([implication, variant]), terminology)
    # The implication's significance goes to the variant it was derived from (no significance value set
    # here: the coding is kept as text); the implication fact itself carries none.
    assert {f.source: f.attributes.get("significance") for f in facts} == {
        "Observation/imp": None,
        "Observation/var": "loinc LA6668-3",
    }


def test_facts_only_of_the_past_are_validated_when_a_rule_matches(rulebook: Rulebook, engine: Engine) -> None:
    """docs/decisions/0011: a stopped order of years ago becomes facts unvalidated; validated (and
    its defect reported) as soon as the patient has any rule match, so no card rests on unvalidated data."""
    old = medication_request("old", "stopped", code="11170", authored="2019-01-01", priority=42)
    alone = evaluate(orjson.dumps(bundle([old])), rulebook=rulebook, engine=engine, now=NOW)
    assert alone.cards == [] and [f.source for f in alone.facts.facts] == ["MedicationRequest/old"]
    assert (alone.facts.resources_validated, alone.facts.resources_deferred) == (0, 1)

    def request(old_order: dict[str, Any]) -> dict[str, Any]:
        return hook_request(
            "order-select",
            drafts=[medication_request("pembro", "draft", code="1547545")],
            selections=["MedicationRequest/pembro"],
            prefetch=[medication_request("vera", "active", code="11170"), old_order],
        )

    with pytest.raises(FhirValidationError, match="MedicationRequest/old at priority"):
        evaluate(request(old), rulebook=rulebook, engine=engine, now=NOW)
    evaluation = evaluate(request({**old, "priority": "routine"}), rulebook=rulebook, engine=engine, now=NOW)
    assert [rule_of(c) for c in evaluation.cards] == ["mdr1-inhibitor-with-immunotherapy"]
    assert (evaluation.facts.resources_validated, evaluation.facts.resources_deferred) == (3, 0)


def test_a_current_invalid_resource_is_still_refused_at_once(rulebook: Rulebook) -> None:
    """The true-positive side: what a card about current treatment rests on is validated while read,
    whether or not anything matches."""
    current = medication_request("vera", "active", code="11170", priority=42)
    with pytest.raises(FhirValidationError, match="MedicationRequest/vera at priority"):
        facts_of(bundle([current]), rulebook.terminology)


def test_a_shape_that_breaks_fact_making_is_named_by_validation(
    rulebook: Rulebook, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Facts are made before a past-only resource is validated: should its shape break fact-making, the
    validator's message names the defect instead of an internal error."""
    from mdrcds.facts import builder

    def breaks(resource: dict[str, Any]) -> Any:
        raise TypeError("unexpected shape")

    monkeypatch.setattr(builder, "exposure_of", breaks)
    invalid = medication_request("old", "stopped", code="11170", authored="2019-01-01", priority=42)
    with pytest.raises(FhirValidationError, match="priority"):
        facts_of(bundle([invalid]), rulebook.terminology)
    with pytest.raises(TypeError):  # a valid resource: the defect is ours, and it is not hidden
        facts_of(bundle([{**invalid, "priority": "routine"}]), rulebook.terminology)


def condition(resource_id: str, text: str, code: str | None = None) -> dict[str, Any]:
    concept: dict[str, Any] = {"text": text}
    if code:
        concept["coding"] = [{"system": "http://snomed.info/sct", "code": code, "display": text}]
    return {
        "resourceType": "Condition",
        "id": resource_id,
        "clinicalStatus": {"coding": [{"code": "active"}]},
        "code": concept,
        "subject": {"reference": "Patient/p1"},
    }


def test_where_the_code_places_a_diagnosis_its_text_cannot_take_it_out(rulebook: Rulebook) -> None:
    """Codes outrank free text: SNOMED 161665007 (history of renal transplant, in the solid-organ
    value set by code) keeps the patient a transplant recipient whatever the words say, and its
    members matched by name are not voided either. The same words with no code, or under a code of
    another meaning, are read by ConText and voided."""
    coded = facts_of(
        bundle([condition("c1", "History of renal transplant (situation)", "161665007")]),
        rulebook.terminology,
    )
    assert {f.value_set for f in coded} == {"solid-organ-transplant"}
    assert {"history of renal transplant", "kidney transplant"} <= {f.member for f in coded}
    awaiting = "Awaiting kidney transplant"
    assert facts_of(bundle([condition("c2", awaiting)]), rulebook.terminology) == []
    # a code of another class (a finding about employment) does not vouch for the text
    assert facts_of(bundle([condition("c3", awaiting, "160903007")]), rulebook.terminology) == []
