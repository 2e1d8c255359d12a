"""Golden cases for record shapes as EHRs send them (issue #11): exposure, doses, terminology,
conditions, genomics and card actions, each with its near-miss negative. Registered by golden_cases."""

from __future__ import annotations

import uuid
from typing import Any

from golden_builder import (
    LOINC,
    PATIENT,
    RX,
    SNOMED,
    Json,
    card,
    case,
    condition,
    copy_number_variant,
    disease_status,
    draft,
    implication,
    lof_variant,
    med,
    observation,
    request,
    variant,
)

PEMBRO = ("1547545", "pembrolizumab")
NIVO = ("1597876", "nivolumab")
ATC = "http://www.whocc.no/atc"
MDR1 = "mdr1-inhibitor-with-immunotherapy"
NTI = "pgp-inhibitor-with-narrow-therapeutic-index-substrate"
PPI = "proton-pump-inhibitor-with-checkpoint-inhibitor"
STEROID = "systemic-corticosteroid-at-checkpoint-inhibitor-start"
TALA = "talazoparib-with-pgp-inhibitor"


def administration(rid: str, coding: tuple[str, str] | None, text: str, when: str, **extra: Any) -> Json:
    concept: Json = {"text": text}
    if coding:
        concept["coding"] = [{"system": RX, "code": coding[0], "display": coding[1]}]
    resource: Json = {
        "resourceType": "MedicationAdministration",
        "id": rid,
        "status": "completed",
        "medicationCodeableConcept": concept,
        "subject": {"reference": f"Patient/{PATIENT}"},
        "effectiveDateTime": when,
    }
    resource.update(extra)
    return resource


def statement(rid: str, status: str, coding: tuple[str, str], text: str, start: str, end: str | None) -> Json:
    period = {"start": start, **({"end": end} if end else {})}
    return {
        "resourceType": "MedicationStatement",
        "id": rid,
        "status": status,
        "medicationCodeableConcept": {
            "coding": [{"system": RX, "code": coding[0], "display": coding[1]}],
            "text": text,
        },
        "subject": {"reference": f"Patient/{PATIENT}"},
        "effectivePeriod": period,
    }


def text_condition(rid: str, text: str, onset: str = "2020-01-01") -> Json:
    resource = condition(rid, SNOMED, "0", text, onset=onset)
    resource["code"] = {"text": text}
    return resource


DIGOXIN = med(
    "digoxin-1", "active", ("3407", "digoxin"), "Digoxin 0.125 mg oral tablet daily", authored="2024-01-10"
)
VERAPAMIL = ("11170", "verapamil")
AMIODARONE = ("703", "amiodarone")
PEM_DRAFT = draft("pembro-draft", PEMBRO, "Pembrolizumab 200 mg IV every 3 weeks")


def exposure() -> None:
    given = administration("pembro-admin", PEMBRO, "Pembrolizumab 200 mg IV", "2026-11-11")
    vera = draft("verapamil-draft", VERAPAMIL, "Verapamil 120 mg oral tablet three times daily")
    case(
        "exposure-pembrolizumab-given-12-days-ago-verapamil-order-select",
        request("x-a", "order-select", [vera], [given]),
        [
            card(
                MDR1,
                "info",
                summary_contains=["verapamil", "pembrolizumab"],
                detail_contains=["last dose 2026-11-11"],
            )
        ],
        """# Verapamil selected; pembrolizumab was given 12 days ago (completed administration)

Checkpoint inhibitors are given every 2-6 weeks and appear as completed administrations. A completed
dose counts as current exposure for 84 days (checkpoint-inhibitor value set), so the MDR1 card fires.""",
    )
    case(
        "exposure-pembrolizumab-given-6-months-ago-no-card",
        request("x-b", "order-select", [vera], [dict(given, effectiveDateTime="2026-05-20")]),
        [],
        """# Verapamil selected; the last pembrolizumab dose was six months ago: outside the 84-day look-back""",
        negative_for=MDR1,
    )
    amio = statement("amio-1", "stopped", AMIODARONE, "Amiodarone 200 mg tablet", "2025-01-10", "2026-11-09")
    case(
        "exposure-amiodarone-stopped-2-weeks-ago-digoxin-patient-view",
        request("x-c", "patient-view", [], [amio, DIGOXIN]),
        [
            card(
                NTI,
                "warning",
                summary_contains=["amiodarone", "digoxin"],
                detail_contains=["last dose 2026-11-09"],
            )
        ],
        """# Amiodarone stopped two weeks ago, digoxin active

Amiodarone's half-life is about 58 days: its P-gp inhibition lasts months after the last dose. The
value set gives amiodarone a 290-day look-back (five half-lives), so the digoxin warning fires.""",
    )
    vera_stopped = statement(
        "vera-1", "stopped", VERAPAMIL, "Verapamil 80 mg tablet", "2025-01-10", "2026-11-09"
    )
    case(
        "exposure-verapamil-stopped-2-weeks-ago-no-card",
        request("x-d", "patient-view", [], [vera_stopped, DIGOXIN]),
        [],
        """# Verapamil (short half-life) stopped two weeks ago: no longer an exposure""",
        negative_for=NTI,
    )
    clari_course = med(
        "clari-1",
        "active",
        ("21212", "clarithromycin"),
        "Clarithromycin 500 mg twice daily for 10 days",
        authored="2026-10-01",
        dosageInstruction=[
            {
                "timing": {
                    "repeat": {
                        "frequency": 2,
                        "period": 1,
                        "periodUnit": "d",
                        "boundsDuration": {
                            "value": 10,
                            "unit": "days",
                            "system": "http://unitsofmeasure.org",
                            "code": "d",
                        },
                    }
                }
            }
        ],
    )
    case(
        "exposure-course-bounds-duration-ended-no-card",
        request("x-e", "patient-view", [], [clari_course, DIGOXIN]),
        [],
        """# An 'active' clarithromycin order whose 10-day course (boundsDuration) ended in October

The order has no end date, but start + boundsDuration ends on 2026-10-10: no longer an exposure.""",
        negative_for=NTI,
    )
    case(
        "exposure-course-bounds-duration-running",
        request("x-f", "patient-view", [], [dict(clari_course, authoredOn="2026-11-18"), DIGOXIN]),
        [card(NTI, "warning", summary_contains=["clarithromycin", "digoxin"])],
        """# The same 10-day clarithromycin course, started five days ago: current""",
    )
    supply = med(
        "clari-2",
        "active",
        ("21212", "clarithromycin"),
        "Clarithromycin 500 mg",
        authored="2026-09-01",
        dispenseRequest={
            "expectedSupplyDuration": {
                "value": 14,
                "unit": "days",
                "system": "http://unitsofmeasure.org",
                "code": "d",
            }
        },
    )
    case(
        "exposure-expected-supply-ended-no-card",
        request("x-g", "patient-view", [], [supply, DIGOXIN]),
        [],
        """# An active order whose 14-day dispensed supply (expectedSupplyDuration) ran out in September""",
        negative_for=NTI,
    )
    dnp = med(
        "vera-dnp", "active", VERAPAMIL, "Verapamil (do not give)", authored="2026-11-01", doNotPerform=True
    )
    case(
        "exposure-do-not-perform-no-card",
        request("x-h", "patient-view", [], [dnp, DIGOXIN]),
        [],
        """# A verapamil order with doNotPerform: true is an instruction not to give it, never exposure""",
        negative_for=NTI,
    )
    cycle = med("pembro-cycle", "completed", PEMBRO, "Pembrolizumab 200 mg IV cycle 3", authored="2026-11-02")
    esome = draft("esomeprazole-draft", ("283742", "esomeprazole"), "Esomeprazole 40 mg oral capsule daily")
    case(
        "exposure-completed-cycle-order-ppi-order-sign",
        request("x-i", "order-sign", [esome], [cycle]),
        [card(PPI, "info", summary_contains=["esomeprazole", "pembrolizumab"], suggestion_labels=[])],
        """# Esomeprazole about to be signed; the last pembrolizumab cycle order is completed (3 weeks ago)

A completed cycle order is exposure; the PPI card's recommendation is no change, so it offers no removal.""",
    )


def dispense(rid: str, coding: tuple[str, str], text: str, handed_over: str, days: int, **extra: Any) -> Json:
    resource: Json = {
        "resourceType": "MedicationDispense",
        "id": rid,
        "status": "completed",
        "medicationCodeableConcept": {
            "coding": [{"system": RX, "code": coding[0], "display": coding[1]}],
            "text": text,
        },
        "subject": {"reference": f"Patient/{PATIENT}"},
        "whenHandedOver": handed_over,
        "daysSupply": {"value": days, "unit": "days", "system": "http://unitsofmeasure.org", "code": "d"},
    }
    resource.update(extra)
    return resource


def dispenses() -> None:
    vera = dispense("vera-dispense", VERAPAMIL, "Verapamil 80 mg tablets, 90", "2026-11-03", 30)
    case(
        "exposure-verapamil-dispensed-with-digoxin-patient-view",
        request("x-j", "patient-view", [], [vera, DIGOXIN]),
        [card(NTI, "warning", summary_contains=["verapamil", "digoxin"])],
        """# A pharmacy dispense of verapamil 20 days ago, 30 days' supply, with digoxin active

A dispense is exposure from its hand-over for its days' supply: the patient has verapamil now.""",
    )
    case(
        "exposure-dispense-supply-ran-out-no-card",
        request("x-k", "patient-view", [], [dict(vera, whenHandedOver="2026-08-01"), DIGOXIN]),
        [],
        """# Verapamil dispensed in August with 30 days' supply: it ran out in September""",
        negative_for=NTI,
    )
    case(
        "exposure-dispense-declined-no-card",
        request("x-l", "patient-view", [], [dict(vera, status="declined"), DIGOXIN]),
        [],
        """# A declined dispense is never exposure""",
        negative_for=NTI,
    )


def prednisone_eq(rid: str, medication: Json, dosage: list[Json], **extra: Any) -> Json:
    resource = med(rid, "active", None, None, authored="2026-11-01", **extra)
    del resource["medicationCodeableConcept"]
    resource.update(medication)
    resource["dosageInstruction"] = dosage
    return resource


def doses() -> None:
    tablets = {
        "contained": [
            {
                "resourceType": "Medication",
                "id": "pred",
                "code": {"text": "Prednisone oral tablet"},
                "ingredient": [
                    {
                        "itemCodeableConcept": {
                            "coding": [{"system": RX, "code": "8640", "display": "prednisone"}]
                        },
                        "strength": {
                            "numerator": {
                                "value": 10,
                                "unit": "mg",
                                "system": "http://unitsofmeasure.org",
                                "code": "mg",
                            },
                            "denominator": {
                                "value": 1,
                                "unit": "tablet",
                                "system": "http://terminology.hl7.org/CodeSystem/v3-orderableDrugForm",
                                "code": "TAB",
                            },
                        },
                    }
                ],
            }
        ],
        "medicationReference": {"reference": "#pred"},
    }
    two_tablets_bid = [
        {
            "timing": {
                "code": {
                    "coding": [
                        {"system": "http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation", "code": "BID"}
                    ]
                }
            },
            "route": {"coding": [{"system": SNOMED, "code": "26643006"}]},
            "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "tablet", "code": "{tbl}"}}],
        }
    ]
    case(
        "dose-prednisone-tablet-strength-bid-order-sign",
        request("d-a", "order-sign", [PEM_DRAFT], [prednisone_eq("pred-1", tablets, two_tablets_bid)]),
        [card(STEROID, "info", summary_contains=["prednisone", "20 mg/day"])],
        """# Prednisone 1 tablet BID, strength 10 mg on the Medication, at pembrolizumab start

The commonest EHR shape: a count of tablets, the strength on the Medication's ingredient, and a timing
code. 1 tablet x 10 mg x BID = 20 mg/day prednisone-equivalent.""",
    )
    name_only = {"medicationCodeableConcept": {"text": "dexamethasone 4 MG Oral Tablet"}}
    dex_q12h = [dict(two_tablets_bid[0], timing={"code": {"coding": [{"code": "Q12H"}]}})]
    case(
        "dose-dexamethasone-strength-in-name-q12h",
        request("d-b", "order-sign", [PEM_DRAFT], [prednisone_eq("dex-1", name_only, dex_q12h)]),
        [card(STEROID, "info", summary_contains=["dexamethasone", "53 mg/day"])],
        """# Dexamethasone 1 tablet every 12 hours; strength only in the RxNorm product name

'dexamethasone 4 MG Oral Tablet' (matched by name: the product code is not in the value set) gives
4 mg per tablet; Q12H is twice a day: 8 mg/day x 6.67 = 53.36 mg/day prednisone-equivalent, written as 53 mg/day.""",
    )
    dose_range = [
        {
            "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
            "doseAndRate": [
                {
                    "doseRange": {
                        "low": {"value": 5, "unit": "mg", "code": "mg"},
                        "high": {"value": 15, "unit": "mg", "code": "mg"},
                    }
                }
            ],
        }
    ]
    prednisone = {
        "medicationCodeableConcept": {"coding": [{"system": RX, "code": "8640", "display": "prednisone"}]}
    }
    case(
        "dose-range-lower-bound-under-10-no-card",
        request("d-c", "order-sign", [PEM_DRAFT], [prednisone_eq("pred-2", prednisone, dose_range)]),
        [],
        """# Prednisone 5-15 mg daily: the lower bound (5 mg) is used, under the 10 mg threshold""",
        negative_for=STEROID,
    )
    per_kg = [
        {
            "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
            "route": {"coding": [{"system": SNOMED, "code": "47625008"}]},
            "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "mg/kg", "code": "mg/kg"}}],
        }
    ]
    mp = {
        "medicationCodeableConcept": {
            "coding": [{"system": RX, "code": "6902", "display": "methylprednisolone"}]
        }
    }
    weight = observation(
        "weight-1",
        LOINC,
        "29463-7",
        "Body weight",
        "2026-11-15",
        valueQuantity={"value": 70, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"},
    )
    case(
        "dose-mg-per-kg-with-body-weight",
        request("d-d", "order-sign", [PEM_DRAFT], [prednisone_eq("mp-1", mp, per_kg), weight]),
        [card(STEROID, "info", summary_contains=["methylprednisolone", "87.5 mg/day"])],
        """# Methylprednisolone 1 mg/kg daily with a body weight of 70 kg (LOINC 29463-7): 87.5 mg/day""",
    )
    case(
        "dose-mg-per-kg-without-body-weight",
        request("d-e", "order-sign", [PEM_DRAFT], [prednisone_eq("mp-1", mp, per_kg)]),
        [
            card(
                STEROID,
                "info",
                summary_contains=["methylprednisolone", "not computable"],
                detail_contains=["no body weight on record"],
            )
        ],
        """# Methylprednisolone 1 mg/kg and no body weight: the card says the dose could not be computed""",
    )
    dex = ("3264", "dexamethasone")
    admins = [
        administration(
            f"dex-admin-{day}",
            dex,
            "Dexamethasone 8 mg IV",
            f"2026-11-{day:02d}",
            dosage={
                "dose": {"value": 8, "unit": "mg", "code": "mg"},
                "route": {"coding": [{"system": SNOMED, "code": "47625008"}]},
            },
        )
        for day in range(15, 24)
    ]
    case(
        "dose-administrations-nine-day-course",
        request("d-f", "order-sign", [PEM_DRAFT], admins),
        [card(STEROID, "info", summary_contains=["dexamethasone", "53 mg/day"])],
        """# Dexamethasone 8 mg IV given daily for nine days up to pembrolizumab start

Administrations on consecutive days form one course of 9 days: not premedication.""",
    )
    premed = [
        {
            "timing": {
                "repeat": {
                    "frequency": 2,
                    "period": 1,
                    "periodUnit": "d",
                    "boundsPeriod": {"start": "2026-11-22", "end": "2026-11-24"},
                }
            },
            "route": {"coding": [{"system": SNOMED, "code": "26643006"}]},
            "doseAndRate": [{"doseQuantity": {"value": 4, "unit": "mg", "code": "mg"}}],
        }
    ]
    dex_coded = {
        "medicationCodeableConcept": {"coding": [{"system": RX, "code": "3264", "display": "dexamethasone"}]}
    }
    case(
        "steroid-three-day-premedication-no-card",
        request("d-g", "order-sign", [PEM_DRAFT], [prednisone_eq("dex-2", dex_coded, premed)]),
        [],
        """# Dexamethasone 4 mg BID for 3 days around the chemo-immunotherapy start (pemetrexed premedication)

Courses of 3 days or less are premedication and excluded (53 mg/day, but not the Arbour pattern).""",
        negative_for=STEROID,
    )
    reason = prednisone_eq(
        "dex-3",
        dex_coded,
        [dict(premed[0], timing={"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}})],
        reasonCode=[{"text": "Premedication before paclitaxel"}],
    )
    case(
        "steroid-premedication-reason-no-card",
        request("d-h", "order-sign", [PEM_DRAFT], [reason]),
        [],
        """# Dexamethasone with the reason 'Premedication before paclitaxel': excluded""",
        negative_for=STEROID,
    )
    per_kg_day = [
        dict(
            per_kg[0],
            timing={"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}},
            doseAndRate=[{"doseQuantity": {"value": 0.5, "unit": "mg/kg/d", "code": "mg/kg/d"}}],
        )
    ]
    case(
        "dose-mg-per-kg-per-day-not-multiplied-again",
        request("d-j", "order-sign", [PEM_DRAFT], [prednisone_eq("mp-2", prednisone, per_kg_day), weight]),
        [card(STEROID, "info", summary_contains=["prednisone", "35 mg/day"])],
        """# Prednisone 0.5 mg/kg/d given in two doses, body weight 70 kg: 35 mg/day, not 70

A dose already per day ('mg/kg/d') is the daily total: the twice-daily timing is not multiplied in again.""",
    )
    once = [
        dict(
            premed[0],
            timing={"repeat": {"count": 1, "frequency": 1, "period": 1, "periodUnit": "d"}},
            doseAndRate=[{"doseQuantity": {"value": 20, "unit": "mg", "code": "mg"}}],
        )
    ]
    case(
        "steroid-single-dose-order-premedication-no-card",
        request("d-k", "order-sign", [PEM_DRAFT], [prednisone_eq("dex-4", dex_coded, once)]),
        [],
        """# Dexamethasone 20 mg ordered once (timing count 1) on the start day: a one-day course, premedication""",
        negative_for=STEROID,
    )
    case(
        "dose-administration-single-premedication-no-card",
        request("d-i", "order-sign", [PEM_DRAFT], admins[-1:]),
        [],
        """# One dexamethasone 8 mg IV administration on the start day: a one-day course, premedication""",
        negative_for=STEROID,
    )


def terminology() -> None:
    ery = administration(
        "ery-1",
        None,
        "Erythromycin 500 mg",
        "2026-11-10",
        medicationCodeableConcept={"coding": [{"system": ATC, "code": "J01FA01"}]},
    )
    rule = "antibiotic-before-checkpoint-inhibitor"
    case(
        "atc-hierarchy-j01fa01-antibiotic-before-pembrolizumab",
        request("t-a", "order-sign", [PEM_DRAFT], [ery]),
        [card(rule, "info", summary_contains=["pembrolizumab"])],
        """# An antibiotic coded only by ATC J01FA01 (erythromycin), 13 days before pembrolizumab

ATC codes match by hierarchy: the value set's class member J01 covers J01FA01.""",
    )
    serpl = draft("serpl-draft", None, None)
    serpl["medicationCodeableConcept"] = {
        "coding": [{"system": ATC, "code": "L01FF12", "display": "serplulimab"}]
    }
    omep = med(
        "omeprazole-1", "active", ("7646", "omeprazole"), "Omeprazole 20 mg daily", authored="2025-06-01"
    )
    case(
        "atc-hierarchy-l01ff12-serplulimab-ppi-order-select",
        request("t-b", "order-select", [serpl], [omep]),
        [card(PPI, "info", summary_contains=["omeprazole"])],
        """# Serplulimab (ATC L01FF12, not listed by name) selected with omeprazole active

L01FF12 is below the class L01FF (PD-1/PD-L1 inhibitors): a checkpoint inhibitor.""",
    )
    keytruda = draft("keytruda-draft", None, "Keytruda 100 mg/4 mL injection")
    cordarone = med("cordarone-1", "active", None, "Cordarone 200 mg tablet daily", authored="2025-03-01")
    case(
        "brand-keytruda-cordarone-order-select",
        request("t-c", "order-select", [keytruda], [cordarone]),
        [
            card(
                MDR1,
                "info",
                summary_contains=["amiodarone", "pembrolizumab"],
                detail_contains=["matched by name only"],
            )
        ],
        """# Brand names only: Keytruda selected while Cordarone is active

The verified brand map (rules/provenance/products.csv) names the ingredients: pembrolizumab and
amiodarone. The card says they were matched by name.""",
    )
    doxo_code_only = draft("doxo-draft", None, None)
    doxo_code_only["medicationCodeableConcept"] = {"coding": [{"system": RX, "code": "1790099"}]}
    case(
        "product-code-without-display-verapamil-order-sign",
        request(
            "t-j",
            "order-sign",
            [doxo_code_only],
            [med("verapamil-1", "active", VERAPAMIL, "Verapamil 80 mg", authored="2025-01-01")],
        ),
        [
            card(
                "pgp-inhibitor-with-pgp-substrate-chemotherapy",
                "info",
                detail_contains=["matched by code rxnorm 1790099"],
            )
        ],
        """# A doxorubicin product ordered by its RxNorm product code alone (no display, no text)

1790099 is '10 ML doxorubicin hydrochloride 2 MG/ML Injection' in the Synthea data; the verified product
map names its ingredient, so the order is recognised by code.""",
    )
    calan = med(
        "calan-1", "active", None, "Calan SR 240 mg extended-release tablet daily", authored="2024-05-01"
    )
    case(
        "brand-calan-sr-opdivo-order-sign",
        request(
            "t-k", "order-sign", [draft("opdivo-draft", None, "Opdivo 240 mg IV every 2 weeks")], [calan]
        ),
        [card(MDR1, "info", summary_contains=["verapamil", "nivolumab"], suggestion_labels=[])],
        """# Brand names only: Opdivo about to be signed while Calan SR (verapamil) is active""",
    )
    cosi = draft("cosi-draft", None, "Cosibelimab-ipdl 1200 mg IV")
    case(
        "new-agent-cosibelimab-ppi-order-sign",
        request("t-d", "order-sign", [cosi], [omep]),
        [card(PPI, "info", summary_contains=["cosibelimab"])],
        """# Cosibelimab (PD-L1, approved 2024) about to be signed with omeprazole: matched by name only""",
    )
    lifi = draft("lifi-draft", None, "Lifileucel suspension for IV infusion")
    vera = med("verapamil-1", "active", VERAPAMIL, "Verapamil 120 mg", authored="2025-01-01")
    case(
        "new-agent-lifileucel-verapamil-order-sign",
        request("t-e", "order-sign", [lifi], [vera]),
        [card(MDR1, "info", summary_contains=["verapamil", "lifileucel"])],
        """# Lifileucel (tumour-infiltrating lymphocytes) with verapamil: an adoptive T-cell therapy""",
    )
    stk = "stk11-mutation-nsclc-with-pd1-blockade"
    adeno = condition("adeno", SNOMED, "254626006", "Adenocarcinoma of lung", onset="2026-03-01")
    stk_var = variant("stk11-var", "STK11", "pathogenic")
    pem = med("pembro-1", "active", PEMBRO, "Pembrolizumab 200 mg", authored="2026-10-01")
    case(
        "nsclc-histology-adenocarcinoma-stk11-patient-view",
        request("t-f", "patient-view", [], [pem, adeno, stk_var]),
        [card(stk, "info", summary_contains=["STK11", "pembrolizumab"])],
        """# STK11 with 'Adenocarcinoma of lung' (SNOMED 254626006): an NSCLC histologic subtype""",
    )
    small = condition("sclc", SNOMED, "254632001", "Small cell carcinoma of lung", onset="2026-03-01")
    case(
        "small-cell-lung-cancer-not-nsclc",
        request("t-g", "patient-view", [], [pem, small, stk_var]),
        [],
        """# STK11 with small cell carcinoma of lung: not the NSCLC study population""",
        negative_for=stk,
    )
    prog = "checkpoint-inhibitor-progression"
    tumour_progression = observation(
        "status-1",
        LOINC,
        "97509-4",
        "Cancer Disease Progression",
        "2026-11-10",
        valueCodeableConcept={
            "coding": [{"system": SNOMED, "code": "419835002", "display": "Tumor progression (finding)"}]
        },
    )
    case(
        "progression-coded-tumor-progression",
        request("t-h", "patient-view", [], [dict(pem, authoredOn="2026-06-01"), tumour_progression]),
        [card(prog, "info", summary_contains=["pembrolizumab"])],
        """# Disease status coded 419835002 'Tumor progression' after pembrolizumab: read as worsened""",
    )
    case(
        "progression-improved-not-worsened",
        request(
            "t-i",
            "patient-view",
            [],
            [dict(pem, authoredOn="2026-06-01"), disease_status("status-2", "improved", "2026-11-10")],
        ),
        [],
        """# Disease status improved after pembrolizumab: no progression card""",
        negative_for=prog,
    )


def conditions() -> None:
    transplant = "checkpoint-inhibitor-in-solid-organ-transplant"
    nivo_d = draft("nivo-draft", NIVO, "Nivolumab 240 mg IV")
    case(
        "condition-awaiting-kidney-transplant-no-card",
        request("c-a", "order-sign", [nivo_d], [text_condition("wait-1", "Awaiting kidney transplant")]),
        [],
        """# 'Awaiting kidney transplant' is not a transplant recipient: no card, no offer to remove nivolumab""",
        negative_for=transplant,
    )
    case(
        "condition-kidney-transplant-text-fires",
        request("c-b", "order-sign", [nivo_d], [text_condition("tx-1", "Kidney transplant recipient")]),
        [card(transplant, "warning", summary_contains=["nivolumab"])],
        """# A free-text 'Kidney transplant recipient' still counts (matched by name only)""",
    )
    autoimmune = "checkpoint-inhibitor-with-autoimmune-disease"
    case(
        "condition-family-history-ra-no-card",
        request(
            "c-c", "order-sign", [nivo_d], [text_condition("fh-1", "Family history of rheumatoid arthritis")]
        ),
        [],
        """# 'Family history of rheumatoid arthritis' is a relative's disease, not the patient's""",
        negative_for=autoimmune,
    )
    ra = condition("ra-1", SNOMED, "69896004", "Rheumatoid arthritis")
    case(
        "condition-provisional-ra-no-card",
        request(
            "c-d",
            "order-sign",
            [nivo_d],
            [
                dict(
                    ra,
                    verificationStatus={
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                                "code": "provisional",
                            }
                        ]
                    },
                )
            ],
        ),
        [],
        """# A provisional rheumatoid arthritis diagnosis is not an established one""",
        negative_for=autoimmune,
    )
    first_dose = administration("pembro-admin", PEMBRO, "Pembrolizumab 200 mg IV", "2026-08-01")
    t1dm = condition("t1dm-1", SNOMED, "46635009", "Diabetes mellitus type 1", onset="2026-10-01")
    case(
        "condition-ici-induced-type-1-diabetes-no-card",
        request(
            "c-e",
            "patient-view",
            [],
            [first_dose, dict(first_dose, id="pembro-admin-2", effectiveDateTime="2026-11-01"), t1dm],
        ),
        [],
        """# Type 1 diabetes with onset two months after the first pembrolizumab dose

An immune-related adverse event of the checkpoint inhibitor, not a pre-existing autoimmune disease.""",
        negative_for=autoimmune,
    )
    induced = text_condition("t1dm-2", "Type 1 diabetes mellitus due to immune checkpoint inhibitor")
    del induced["onsetDateTime"]
    case(
        "condition-recorded-as-ici-induced-no-card",
        request("c-g", "order-sign", [nivo_d], [induced]),
        [],
        """# 'Type 1 diabetes mellitus due to immune checkpoint inhibitor', no onset date

The record itself says the disease was caused by the checkpoint inhibitor: an immune-related adverse
event, not pre-existing autoimmune disease.""",
        negative_for=autoimmune,
    )
    case(
        "condition-mother-has-ra-no-card",
        request("c-h", "order-sign", [nivo_d], [text_condition("fh-2", "Mother has rheumatoid arthritis")]),
        [],
        """# 'Mother has rheumatoid arthritis': a relative's disease""",
        negative_for=autoimmune,
    )
    case(
        "condition-kidney-donor-no-card",
        request("c-i", "order-sign", [nivo_d], [text_condition("donor-1", "Kidney transplant donor")]),
        [],
        """# A kidney donor is not a transplant recipient""",
        negative_for=transplant,
    )
    case(
        "condition-preexisting-ra-with-onset-fires",
        request("c-j", "order-sign", [nivo_d], [ra]),
        [
            card(
                autoimmune,
                "info",
                summary_contains=["nivolumab", "rheumatoid arthritis"],
                detail_contains=["before the first checkpoint-inhibitor dose"],
            )
        ],
        """# Rheumatoid arthritis since 2019, nivolumab about to start: pre-existing, the card fires""",
    )
    unknown_onset = dict(t1dm)
    del unknown_onset["onsetDateTime"]
    case(
        "condition-autoimmune-unknown-onset-says-so",
        request("c-f", "order-sign", [nivo_d], [unknown_onset]),
        [card(autoimmune, "info", detail_contains=["onset date not recorded"])],
        """# Type 1 diabetes with no onset date: counted, and the card says the onset is unknown""",
    )


def genomics() -> None:
    pem = med("pembro-1", "active", PEMBRO, "Pembrolizumab 200 mg", authored="2026-10-01")
    jak = "jak1-jak2-loss-with-pd1-blockade"
    case(
        "genomic-jak1-reported-absent-no-card",
        request(
            "g-a", "patient-view", [], [pem, lof_variant("jak1-var", "JAK1", "pathogenic", presence="absent")]
        ),
        [],
        """# A JAK1 result reported Absent (LOINC LA9634-2), a pertinent negative: never a variant""",
        negative_for=jak,
    )
    abcb1 = "abcb1-overexpression-with-pgp-substrate-chemotherapy"
    pacli = med(
        "paclitaxel-1", "active", ("56946", "paclitaxel"), "Paclitaxel 175 mg/m2 IV", authored="2026-10-01"
    )
    absent_gain = copy_number_variant("abcb1-var", "ABCB1", "gr-gain")
    absent_gain["valueCodeableConcept"] = {
        "coding": [{"system": LOINC, "code": "LA9634-2", "display": "Absent"}]
    }
    case(
        "genomic-abcb1-gain-reported-absent-no-card",
        request("g-b", "patient-view", [], [pacli, absent_gain]),
        [],
        """# An ABCB1 copy-number gain reported Absent: no card""",
        negative_for=abcb1,
    )
    v617f = variant("jak2-var", "JAK2", "pathogenic", consequence="missense")
    v617f["component"].append(
        {
            "code": {"coding": [{"system": LOINC, "code": "48005-3"}]},
            "valueCodeableConcept": {
                "coding": [{"system": "http://varnomen.hgvs.org", "code": "NP_004963.1:p.Val617Phe"}]
            },
        }
    )
    case(
        "genomic-jak2-v617f-activating-no-card",
        request("g-c", "patient-view", [], [pem, v617f]),
        [],
        """# JAK2 V617F (missense, activating) with pembrolizumab: not a loss of JAK signalling""",
        negative_for=jak,
    )
    text_sig = lof_variant("jak1-var", "JAK1", None)
    text_sig["component"].append(
        {
            "code": {"coding": [{"system": LOINC, "code": "53037-8"}]},
            "valueCodeableConcept": {"text": "Pathogenic"},
        }
    )
    case(
        "genomic-significance-as-text",
        request("g-d", "patient-view", [], [pem, text_sig]),
        [card(jak, "info", summary_contains=["JAK1", "pathogenic"])],
        """# JAK1 stop-gained with significance given as text only ('Pathogenic'): matched by name""",
    )
    variant_json = lof_variant("b2m-var", "B2M", None)
    variant_url = f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, 'b2m-var')}"
    implication_json = implication("b2m-implication", "b2m-var", "pathogenic")
    implication_json["derivedFrom"] = [{"reference": variant_url}]
    req = request("g-e", "patient-view", [], [pem])
    req["prefetch"]["observations"] = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": variant_url,
                "resource": variant_json,
                "request": {"method": "POST", "url": "Observation"},
            },
            {
                "fullUrl": f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, 'b2m-implication')}",
                "resource": implication_json,
                "request": {"method": "POST", "url": "Observation"},
            },
        ],
    }
    case(
        "genomic-implication-linked-by-urn-uuid",
        req,
        [card("b2m-loss-with-checkpoint-inhibitor", "info", summary_contains=["B2M", "pathogenic"])],
        """# A diagnostic implication that points at its variant by urn:uuid inside a transaction Bundle

The implication's derivedFrom is the variant's fullUrl, not 'Observation/id': it is linked all the same.""",
    )
    pten = variant("pten-var", "PTEN", "pathogenic")
    molc = observation(
        "pten-molc",
        "http://hl7.org/fhir/uv/genomics-reporting/CodeSystem/tbd-codes-cs",
        "molecular-consequence",
        "Molecular consequence",
        "2026-08-14",
        derivedFrom=[{"reference": "Observation/pten-var"}],
        component=[
            {
                "code": {
                    "coding": [
                        {
                            "system": "http://hl7.org/fhir/uv/genomics-reporting/CodeSystem/tbd-codes-cs",
                            "code": "feature-consequence",
                        }
                    ]
                },
                "valueCodeableConcept": {
                    "coding": [
                        {
                            "system": "http://www.sequenceontology.org",
                            "code": "SO:0001589",
                            "display": "frameshift_variant",
                        }
                    ]
                },
            }
        ],
    )
    case(
        "genomic-loss-from-molecular-consequence-observation",
        request("g-f", "patient-view", [], [pem, pten, molc]),
        [card("pten-loss-with-checkpoint-inhibitor", "info", summary_contains=["PTEN"])],
        """# PTEN pathogenic variant whose frameshift is reported on a separate molecular-consequence Observation""",
    )
    case(
        "genomic-pten-no-consequence-presumed-loss",
        request("g-g", "patient-view", [], [pem, variant("pten-var", "PTEN", "pathogenic")]),
        [
            card(
                "pten-loss-with-checkpoint-inhibitor",
                "info",
                summary_contains=["PTEN"],
                detail_contains=["Loss of PTEN function is presumed"],
            )
        ],
        """# A pathogenic PTEN variant with no consequence reported: loss presumed (PTEN is a tumour suppressor)

Issue #21's loss-of-function policy by gene role: for PTEN and B2M a pathogenic or likely pathogenic
variant counts as loss unless a gain of function is stated; the card says the loss was presumed. JAK1 and
JAK2 keep the explicit requirement (genomic-jak1-pathogenic-no-consequence-no-card).""",
    )


def card_actions() -> None:
    vera_d = draft("verapamil-draft", VERAPAMIL, "Verapamil 120 mg tablet")
    nivo = med("nivolumab-1", "active", NIVO, "Nivolumab 240 mg IV", authored="2026-09-15")
    case(
        "mdr1-verapamil-draft-no-removal-offered",
        request("a-a", "order-sign", [vera_d], [nivo]),
        [
            card(
                MDR1,
                "info",
                summary_contains=["verapamil"],
                detail_contains=["No change is required", "infection models"],
                suggestion_labels=[],
            )
        ],
        """# Verapamil about to be signed during nivolumab: the card recommends no change, so offers no removal""",
    )
    carvedilol = med(
        "carvedilol-1",
        "active",
        ("20352", "carvedilol"),
        "Carvedilol 6.25 mg BID for anthracycline cardioprotection",
        authored="2026-09-01",
    )
    doxo = draft("doxo-draft", ("3639", "doxorubicin"), "Doxorubicin 60 mg/m2 IV")
    case(
        "pgp-carvedilol-cardioprotection-doxorubicin-no-alternative",
        request("a-b", "order-sign", [doxo], [carvedilol]),
        [
            card(
                "pgp-inhibitor-with-pgp-substrate-chemotherapy",
                "info",
                detail_contains=["No change is required"],
                suggestion_labels=[],
            )
        ],
        """# Doxorubicin with carvedilol given for anthracycline cardioprotection

The mechanistic P-gp card says 'possible' and 'no change is required': it does not tell the clinician
to replace a cardioprotective drug.""",
    )
    tala = draft("tala-draft", None, "Talzenna 1 mg capsule once daily")
    amio = med("amio-1", "active", AMIODARONE, "Amiodarone 200 mg daily", authored="2025-01-01")
    case(
        "talazoparib-amiodarone-order-select",
        request("a-c", "order-select", [tala], [amio]),
        [
            card(
                TALA,
                "warning",
                summary_contains=["talazoparib", "amiodarone"],
                detail_contains=["0.75 mg once daily", "Evidence: label"],
            )
        ],
        """# Talazoparib (Talzenna) selected while amiodarone is active: label dose reduction""",
    )
    tala_active = med("tala-1", "active", None, "Talazoparib 1 mg capsule daily", authored="2026-10-01")
    case(
        "talazoparib-verapamil-draft-order-sign",
        request("a-d", "order-sign", [vera_d], [tala_active]),
        [card(TALA, "warning", summary_contains=["talazoparib", "verapamil"])],
        """# Verapamil about to be signed during talazoparib""",
    )
    case(
        "talazoparib-clarithromycin-patient-view",
        request(
            "a-e",
            "patient-view",
            [],
            [
                tala_active,
                med(
                    "clari-1",
                    "active",
                    ("21212", "clarithromycin"),
                    "Clarithromycin 500 mg BID",
                    authored="2026-11-20",
                ),
            ],
        ),
        [card(TALA, "warning", summary_contains=["clarithromycin"])],
        """# Talazoparib with clarithromycin in the chart""",
    )
    case(
        "talazoparib-without-pgp-inhibitor-no-card",
        request(
            "a-f",
            "patient-view",
            [],
            [
                tala_active,
                med(
                    "omeprazole-1",
                    "active",
                    ("7646", "omeprazole"),
                    "Omeprazole 20 mg",
                    authored="2025-01-01",
                ),
            ],
        ),
        [],
        """# Talazoparib with omeprazole (not a P-gp inhibitor): no card""",
        negative_for=TALA,
    )


ALL = (exposure, dispenses, doses, terminology, conditions, genomics, card_actions)
