"""Builders for the golden cases of fhir_samples/ (the cases themselves are in golden_cases.py).

Every code used is a verified code from rules/provenance/codes.csv or a value set with a recorded
source, except 1860480, a product code copied from the Synthea data. Free-text medications carry no
code.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "fhir_samples"
RX = "http://www.nlm.nih.gov/research/umls/rxnorm"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
PATIENT = "p-onc-1"
NOW = "2026-11-23"
Json = dict[str, Any]


def patient() -> Json:
    return {
        "resourceType": "Patient",
        "id": PATIENT,
        "gender": "female",
        "birthDate": "1961-04-12",
        "name": [{"family": "Example", "given": ["Ada"]}],
    }


def med(
    rid: str,
    status: str,
    coding: tuple[str, str] | None = None,
    text: str | None = None,
    authored: str = "2026-10-01",
    intent: str = "order",
    **extra: Any,
) -> Json:
    concept: Json = {}
    if coding:
        concept["coding"] = [{"system": RX, "code": coding[0], "display": coding[1]}]
    if text:
        concept["text"] = text
    resource: Json = {
        "resourceType": "MedicationRequest",
        "id": rid,
        "status": status,
        "intent": intent,
        "medicationCodeableConcept": concept,
        "subject": {"reference": f"Patient/{PATIENT}"},
        "authoredOn": authored,
    }
    resource.update(extra)
    return resource


def draft(rid: str, coding: tuple[str, str] | None = None, text: str | None = None) -> Json:
    return med(rid, "draft", coding, text, authored=NOW, intent="proposal")


def daily(
    dose_mg: float, times: int = 1, route: str = "26643006", start: str | None = None, end: str | None = None
) -> list[Json]:
    timing: Json = {"repeat": {"frequency": times, "period": 1, "periodUnit": "d"}}
    if start:
        timing["repeat"]["boundsPeriod"] = {"start": start, **({"end": end} if end else {})}
    return [
        {
            "timing": timing,
            "route": {"coding": [{"system": SNOMED, "code": route}]},
            "doseAndRate": [
                {
                    "doseQuantity": {
                        "value": dose_mg,
                        "unit": "mg",
                        "system": "http://unitsofmeasure.org",
                        "code": "mg",
                    }
                }
            ],
        }
    ]


def course(start: str, end: str) -> list[Json]:
    return [{"timing": {"repeat": {"boundsPeriod": {"start": start, "end": end}}}}]


def condition(
    rid: str,
    system: str,
    code: str,
    display: str,
    clinical: str = "active",
    verification: str = "confirmed",
    onset: str = "2019-03-01",
) -> Json:
    return {
        "resourceType": "Condition",
        "id": rid,
        "clinicalStatus": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": clinical}
            ]
        },
        "verificationStatus": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": verification}
            ]
        },
        "code": {"coding": [{"system": system, "code": code, "display": display}], "text": display},
        "subject": {"reference": f"Patient/{PATIENT}"},
        "onsetDateTime": onset,
    }


def procedure(
    rid: str, code: str, display: str, status: str = "completed", performed: str = "2015-05-20"
) -> Json:
    return {
        "resourceType": "Procedure",
        "id": rid,
        "status": status,
        "code": {"coding": [{"system": SNOMED, "code": code, "display": display}]},
        "subject": {"reference": f"Patient/{PATIENT}"},
        "performedDateTime": performed,
    }


GENES = {
    "JAK1": "HGNC:6190",
    "JAK2": "HGNC:6192",
    "B2M": "HGNC:914",
    "STK11": "HGNC:11389",
    "PTEN": "HGNC:9588",
    "ABCB1": "HGNC:40",
}
SIGNIFICANCE = {
    "pathogenic": ("LA6668-3", "Pathogenic"),
    "likely pathogenic": ("LA26332-9", "Likely Pathogenic"),
    "uncertain": ("LA26333-7", "Uncertain Significance"),
}


def significance_component(significance: str) -> Json:
    code, display = SIGNIFICANCE[significance]
    return {
        "code": {
            "coding": [
                {
                    "system": LOINC,
                    "code": "53037-8",
                    "display": "Genetic variation clinical significance [Imp]",
                }
            ]
        },
        "valueCodeableConcept": {"coding": [{"system": LOINC, "code": code, "display": display}]},
    }


def observation(rid: str, system: str, code: str, display: str, when: str, **value: Any) -> Json:
    """A final Observation of the patient, with its value element(s) as keyword arguments."""
    return {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "code": {"coding": [{"system": system, "code": code, "display": display}]},
        "subject": {"reference": f"Patient/{PATIENT}"},
        "effectiveDateTime": when,
        **value,
    }


def copy_number_variant(rid: str, gene: str, style: str) -> Json:
    """A copy-number variant Observation in one of three published styles.

    'gr-gain': Genomics Reporting STU3, change type LOINC 48019-4 = SO:0001742 copy_number_gain.
    'mcode-gain': mCODE STU4's MYCN example, GR 'molecular-consequence' component, SO URI with a slash.
    'gr-cnv': GR STU3's official ExampleSomaticCNV: SO:0001019 copy_number_variation, copy number 3.
    """
    so = "http://www.sequenceontology.org"
    change_code = {"system": LOINC, "code": "48019-4", "display": "DNA change type"}
    change = {"system": so, "code": "SO:0001742", "display": "copy_number_gain"}
    extra: list[Json] = []
    if style == "mcode-gain":
        change_code = {
            "system": "http://hl7.org/fhir/uv/genomics-reporting/CodeSystem/tbd-codes-cs",
            "code": "molecular-consequence",
        }
        change = {"system": so + "/", "code": "SO:0001742", "display": "copy_number_gain"}
    elif style == "gr-cnv":
        change = {"system": so, "code": "SO:0001019", "display": "copy_number_variation"}
        extra = [
            {
                "code": {"coding": [{"system": LOINC, "code": "82155-3"}]},
                "valueQuantity": {"value": 3, "system": "http://unitsofmeasure.org", "code": "1"},
            }
        ]
    resource = variant(rid, gene, None)
    resource["component"] += [
        {"code": {"coding": [change_code]}, "valueCodeableConcept": {"coding": [change]}}
    ]
    resource["component"] += extra
    return resource


CONSEQUENCES = {
    "stop_gained": ("SO:0001587", "stop_gained"),
    "frameshift": ("SO:0001589", "frameshift_variant"),
    "missense": ("SO:0001583", "missense_variant"),
}
PRESENCE = {"present": ("LA9633-4", "Present"), "absent": ("LA9634-2", "Absent")}


def consequence_component(consequence: str) -> Json:
    """The GR / mCODE 'molecular-consequence' component with a Sequence Ontology code."""
    code, display = CONSEQUENCES[consequence]
    return {
        "code": {
            "coding": [
                {
                    "system": "http://hl7.org/fhir/uv/genomics-reporting/CodeSystem/tbd-codes-cs",
                    "code": "molecular-consequence",
                }
            ]
        },
        "valueCodeableConcept": {
            "coding": [{"system": "http://www.sequenceontology.org", "code": code, "display": display}]
        },
    }


def lof_variant(rid: str, gene: str, significance: str | None, presence: str = "present") -> Json:
    """A variant with a loss-of-function consequence (stop_gained), as the 'loss' rules need."""
    return variant(rid, gene, significance, consequence="stop_gained", presence=presence)


def variant(
    rid: str,
    gene: str,
    significance: str | None,
    consequence: str | None = None,
    presence: str | None = "present",
) -> Json:
    """A variant Observation; with `significance`, the older style that carries 53037-8 on the variant."""
    components = [
        {
            "code": {"coding": [{"system": LOINC, "code": "48018-6", "display": "Gene studied [ID]"}]},
            "valueCodeableConcept": {
                "coding": [{"system": "http://www.genenames.org", "code": GENES[gene], "display": gene}]
            },
        }
    ]
    if significance:
        components.append(significance_component(significance))
    if consequence:
        components.append(consequence_component(consequence))
    value: Json = {}
    if presence:
        code, display = PRESENCE[presence]
        value["valueCodeableConcept"] = {"coding": [{"system": LOINC, "code": code, "display": display}]}
    return observation(
        rid, LOINC, "69548-6", "Genetic variant assessment", "2026-08-14", component=components, **value
    )


def implication(rid: str, variant_id: str, significance: str) -> Json:
    """A Genomics Reporting STU3 / mCODE STU4 diagnostic-implication Observation for a variant."""
    return {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "code": {
            "coding": [
                {
                    "system": "http://hl7.org/fhir/uv/genomics-reporting/CodeSystem/tbd-codes-cs",
                    "code": "diagnostic-implication",
                    "display": "Diagnostic Implication",
                }
            ]
        },
        "subject": {"reference": f"Patient/{PATIENT}"},
        "derivedFrom": [{"reference": f"Observation/{variant_id}"}],
        "component": [significance_component(significance)],
    }


STATUS = {
    "worsened": ("271299001", "Patient's condition worsened (finding)"),
    "improved": ("268910001", "Patient's condition improved (finding)"),
}


def disease_status(rid: str, result: str, when: str) -> Json:
    """An mCODE CancerDiseaseStatus Observation (LOINC 97509-4)."""
    code, display = STATUS[result]
    return observation(
        rid,
        LOINC,
        "97509-4",
        "Cancer Disease Progression",
        when,
        valueCodeableConcept={"coding": [{"system": SNOMED, "code": code, "display": display}]},
    )


def digoxin_level(rid: str, when: str, value: float) -> Json:
    """A serum digoxin level (LOINC 10535-3)."""
    quantity = {"value": value, "unit": "ng/mL", "system": "http://unitsofmeasure.org", "code": "ng/mL"}
    return observation(
        rid, LOINC, "10535-3", "Digoxin [Mass/volume] in Serum or Plasma", when, valueQuantity=quantity
    )


def searchset(resources: list[Json]) -> Json:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "entry": [{"resource": r} for r in resources],
    }


PREFETCH_KEYS = {
    "MedicationRequest": "medicationRequests",
    "MedicationStatement": "medicationStatements",
    "MedicationAdministration": "medicationAdministrations",
    "MedicationDispense": "medicationDispenses",
    "Condition": "conditions",
    "Observation": "observations",
    "Procedure": "procedures",
}


def request(
    name: str, hook: str, drafts: list[Json], data: list[Json], selections: list[str] | None = None
) -> Json:
    context: Json = {"userId": "Practitioner/onc-1", "patientId": PATIENT}
    if hook != "patient-view":
        context["draftOrders"] = {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [
                {
                    "fullUrl": f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, r['resourceType'] + r['id'])}",
                    "resource": r,
                }
                for r in drafts
            ],
        }
    if hook == "order-select":
        context["selections"] = (
            selections if selections is not None else [f"MedicationRequest/{d['id']}" for d in drafts]
        )
    by_type: dict[str, list[Json]] = {}
    for resource in data:
        by_type.setdefault(resource["resourceType"], []).append(resource)
    unknown = set(by_type) - set(PREFETCH_KEYS)
    assert not unknown, f"no prefetch key for {unknown}"
    # Every key the services ask for is sent; a search with no results is an empty searchset Bundle.
    prefetch: Json = {"patient": patient()}
    for resource_type, key in PREFETCH_KEYS.items():
        prefetch[key] = searchset(by_type.get(resource_type, []))
    return {
        "hook": hook,
        "hookInstance": str(uuid.uuid5(uuid.NAMESPACE_URL, "mdrcds-sample-" + name)),
        "context": context,
        "prefetch": prefetch,
    }


CASES: dict[str, tuple[Json, Json, str]] = {}


def case(
    name: str, req: Json, cards: list[Json], notes: str, negative_for: str | None = None, **expected: Any
) -> None:
    """Register a case; a case that expects no card names the rule it is a negative case for."""
    assert name not in CASES, name
    assert bool(cards) != bool(negative_for), (
        f"{name}: a case expects cards or names the rule it tests negatively"
    )
    if negative_for:
        expected["negative_for"] = negative_for
    CASES[name] = (
        req,
        {"now": NOW, **expected, "cards": cards, "no_other_cards": True},
        notes.strip() + "\n",
    )


def card(rule: str, indicator: str, **checks: Any) -> Json:
    return {"rule": rule, "indicator": indicator, **checks}


def write_all(root: Path = SAMPLES) -> None:
    for name, (req, expected, notes) in CASES.items():
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for filename, content in (
            ("request.json", dump(req)),
            ("expected.json", dump(expected)),
            ("NOTES.md", notes),
        ):
            (folder / filename).write_text(content, encoding="utf-8")


def dump(data: Json) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def rendered() -> dict[str, dict[str, str]]:
    """What each case directory should hold, file name -> text."""
    return {
        name: {"request.json": dump(r), "expected.json": dump(e), "NOTES.md": n}
        for name, (r, e, n) in CASES.items()
    }
