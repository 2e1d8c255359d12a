"""The golden cases of fhir_samples/: request, expected cards and the clinical reason, per case.

    .venv/bin/python tests/golden_cases.py     # rewrites fhir_samples/<case>/ from this file

`tests/test_golden.py` runs every case and fails when a case directory differs from this file.
"""

from __future__ import annotations

import golden_generalised
import golden_genomic
import golden_real_shapes
from golden_builder import (
    CASES,
    NOW,
    PATIENT,
    RX,
    SAMPLES,
    Json,
    card,
    case,
    condition,
    copy_number_variant,
    course,
    daily,
    digoxin_level,
    disease_status,
    draft,
    implication,
    lof_variant,
    med,
    procedure,
    request,
    variant,
    write_all,
)

PEMBRO = ("1547545", "pembrolizumab")
NIVO = ("1597876", "nivolumab")
ATEZO = ("1792776", "atezolizumab")
DURVA = ("1919503", "durvalumab")
IPI = ("1094833", "ipilimumab")
MDR1 = "mdr1-inhibitor-with-immunotherapy"
PGP = "pgp-inhibitor-with-pgp-substrate-chemotherapy"


def mdr1_and_pgp() -> None:
    pem = draft("pembro-draft", PEMBRO, "Pembrolizumab 25 MG/ML Injectable Solution")
    vera = med(
        "verapamil-1",
        "active",
        ("11170", "verapamil"),
        "Verapamil hydrochloride 120 mg oral tablet, three times daily",
        authored="2025-02-14",
    )
    case(
        "mdr1-pembrolizumab-verapamil-order-select",
        request("mdr1-a", "order-select", [pem], [vera]),
        [
            card(
                MDR1,
                "info",
                summary_contains=["verapamil", "pembrolizumab", "preclinical"],
                detail_contains=[
                    "Evidence: preclinical",
                    "not a contraindication",
                    "MedicationRequest/verapamil-1",
                    "PMID 32302378",
                ],
                suggestion_labels=[],
            )
        ],
        """# Pembrolizumab selected while verapamil is active (order-select)

The clinician selects pembrolizumab (RxNorm ingredient 1547545, verified) while an active verapamil
prescription (RxNorm 11170, verified) is on record. Verapamil is a clinical P-gp inhibitor, so the
MDR1-inhibitor-with-immunotherapy rule fires as an `info` card worded as preclinical evidence
(Chen et al., J Exp Med 2020, mouse data). No suggestion: the inhibitor is not a draft order.""",
    )
    case(
        "mdr1-pembrolizumab-verapamil-stopped",
        request("mdr1-b", "order-select", [pem], [dict(vera, status="stopped")]),
        [],
        """# Pembrolizumab selected; verapamil was stopped

Same as `mdr1-pembrolizumab-verapamil-order-select`, but the verapamil prescription is `stopped`.
A stopped medication is not current, so no card fires.""",
        negative_for=MDR1,
    )
    ondansetron = draft("ondansetron-draft", None, "Ondansetron 8 mg oral tablet")
    case(
        "mdr1-trigger-not-selected",
        request(
            "mdr1-c", "order-select", [pem, ondansetron], [vera], ["MedicationRequest/ondansetron-draft"]
        ),
        [],
        """# order-select where the trigger is not among the selections

Pembrolizumab is an unsigned draft order and verapamil is active, but the clinician has just selected
ondansetron. order-select cards concern the selections only, so no card fires now (order-sign will
show it when the orders are signed).""",
        negative_for=MDR1,
    )
    amio = med(
        "amiodarone-1",
        "active",
        ("703", "amiodarone"),
        "Amiodarone 200 mg oral tablet daily",
        authored="2024-06-01",
    )
    nivo = med("nivolumab-1", "active", NIVO, "Nivolumab 240 mg IV every 2 weeks", authored="2026-11-20")
    case(
        "mdr1-nivolumab-amiodarone-patient-view",
        request("mdr1-d", "patient-view", [], [amio, nivo]),
        [card(MDR1, "info", summary_contains=["amiodarone", "nivolumab"])],
        """# Patient view at the start of nivolumab, with amiodarone active

Nivolumab was first ordered three days ago: a treatment start, where a decision is made, so the MDR1
preclinical `info` card shows on patient-view.""",
    )
    case(
        "mdr1-patient-view-mid-course-no-card",
        request("mdr1-d2", "patient-view", [], [amio, dict(nivo, authoredOn="2026-09-15")]),
        [],
        """# Patient view in the third month of nivolumab, with amiodarone active

Alert fatigue: the MDR1 card is for decisions (order-select, order-sign, treatment start). Ten weeks
into the course, the chart view shows no card.""",
        negative_for=MDR1,
    )
    tariquidar = draft("tariquidar-draft", None, "Tariquidar 150 mg IV (study drug)")
    case(
        "mdr1-tariquidar-draft-nivolumab-order-sign",
        request("mdr1-f", "order-sign", [tariquidar], [nivo]),
        [
            card(
                MDR1,
                "info",
                summary_contains=["tariquidar", "nivolumab"],
                detail_contains=["matched by name only"],
                suggestion_labels=[],
            ),
            card("investigational-pgp-modulator", "info"),
        ],
        """# order-sign: an investigational P-gp inhibitor with nivolumab

Tariquidar has no RxNorm code; it is recognised by name only, and the card says so. Both the MDR1
caution and the investigational-modulator card fire; the MDR1 card offers to remove the draft.""",
    )
    eye = med(
        "cyclosporine-eye",
        "active",
        None,
        "Cyclosporine 0.5 MG/ML Ophthalmic Emulsion",
        authored="2025-01-01",
    )
    case(
        "mdr1-ophthalmic-cyclosporine-not-systemic",
        request("mdr1-e", "order-select", [pem], [eye]),
        [],
        """# Ophthalmic cyclosporine is not a systemic P-gp inhibitor

Cyclosporine eye drops (recognised by name; "Ophthalmic" marks a non-systemic dose form) with
pembrolizumab selected: no card, because the interaction rules require a systemic inhibitor.""",
        negative_for=MDR1,
    )
    doce = draft("docetaxel-draft", ("72962", "docetaxel"), "Docetaxel 75 mg/m2 IV infusion")
    clari = med(
        "clarithromycin-1",
        "active",
        ("21212", "clarithromycin"),
        "Clarithromycin 500 mg oral tablet twice daily",
        authored="2026-11-18",
    )
    case(
        "pgp-docetaxel-ingredient-clarithromycin-order-select",
        request("pgp-a", "order-select", [doce], [clari]),
        [
            card(
                PGP,
                "info",
                summary_contains=["clarithromycin", "docetaxel"],
                detail_contains=["Evidence: preclinical", "matched by code rxnorm 72962", "PMID 16794637"],
                suggestion_labels=[],
            )
        ],
        """# Docetaxel (ingredient code) selected while clarithromycin is active

Docetaxel (RxNorm 72962, verified; a P-gp substrate per Scripture & Figg 2006) is selected while
clarithromycin (RxNorm 21212, verified clinical P-gp inhibitor) is active: `warning` card for higher
docetaxel exposure.""",
    )
    doce_product = draft(
        "docetaxel-draft",
        ("1860480", "1 ML DOCEtaxel 20 MG/ML Injection"),
        "1 ML DOCEtaxel 20 MG/ML Injection",
    )
    case(
        "pgp-docetaxel-product-clarithromycin-order-select",
        request("pgp-b", "order-select", [doce_product], [clari]),
        [
            card(
                PGP,
                "info",
                summary_contains=["clarithromycin", "docetaxel"],
                detail_contains=["1 ML DOCEtaxel 20 MG/ML Injection", "matched by code rxnorm 1860480"],
                suggestion_labels=[],
            )
        ],
        """# Docetaxel as a product code with display text

The draft carries the product-level RxNorm code 1860480 "1 ML DOCEtaxel 20 MG/ML Injection" exactly as
the Synthea data does. The verified product map (rules/provenance/products.csv) records that pairing, so
docetaxel is recognised by the product code itself.""",
    )
    doce_active = dict(doce, id="docetaxel-1", status="active", authoredOn="2026-11-02", intent="order")
    clari_draft = dict(clari, id="clarithromycin-draft", status="draft", authoredOn=NOW, intent="proposal")
    case(
        "pgp-clarithromycin-draft-docetaxel-order-sign",
        request("pgp-c", "order-sign", [clari_draft], [doce_active]),
        [
            card(
                PGP,
                "info",
                summary_contains=["clarithromycin", "docetaxel"],
                suggestion_labels=[],
            )
        ],
        """# Clarithromycin about to be signed during docetaxel therapy (order-sign)

The draft order is the P-gp inhibitor. The rule is mechanistic (graded preclinical, `info`) and its
recommendation is "no change is required; monitor", so the card offers no one-click removal.""",
    )
    case(
        "pgp-docetaxel-clarithromycin-patient-view",
        request("pgp-e", "patient-view", [], [doce_active, clari]),
        [card(PGP, "info", summary_contains=["clarithromycin", "docetaxel"])],
        """# Patient view: docetaxel and clarithromycin both active

Both are current, so the mechanistic P-gp substrate card (`info`, "possible") shows in patient-view.""",
    )
    case(
        "pgp-docetaxel-completed-clarithromycin-patient-view",
        request(
            "pgp-f",
            "patient-view",
            [],
            [dict(doce_active, status="completed", authoredOn="2026-08-01"), clari],
        ),
        [],
        """# Docetaxel course completed in August: no card

The last docetaxel order is `completed` and was given more than 28 days ago (the look-back after a
chemotherapy dose, one of the longest common cycles): exposure is over.""",
        negative_for=PGP,
    )
    case(
        "pgp-docetaxel-cycle-three-weeks-ago-clarithromycin",
        request("pgp-g", "patient-view", [], [dict(doce_active, status="completed"), clari]),
        [
            card(
                PGP,
                "info",
                summary_contains=["clarithromycin", "docetaxel"],
                detail_contains=["last dose 2026-11-02"],
            )
        ],
        """# Docetaxel cycle order completed three weeks ago, clarithromycin active

A completed cycle within the 28-day look-back is current exposure: the next cycle is due.""",
    )
    kaletra = {
        "resourceType": "Medication",
        "id": "lpv-rtv",
        "code": {"text": "Lopinavir 200 MG / Ritonavir 50 MG Oral Tablet"},
        "ingredient": [
            {"itemCodeableConcept": {"coding": [{"system": RX, "code": "195088", "display": "lopinavir"}]}},
            {"itemCodeableConcept": {"coding": [{"system": RX, "code": "85762", "display": "ritonavir"}]}},
        ],
    }
    lpv = med("lpv-rtv-1", "active", authored="2023-03-01")
    del lpv["medicationCodeableConcept"]
    lpv["medicationReference"] = {"reference": "#lpv-rtv"}
    lpv["contained"] = [kaletra]
    pacli = draft("paclitaxel-draft", ("56946", "paclitaxel"), "Paclitaxel 175 mg/m2 IV")
    case(
        "pgp-paclitaxel-lopinavir-ritonavir-contained",
        request("pgp-d", "order-select", [pacli], [lpv]),
        [card(PGP, "info", summary_contains=["lopinavir and ritonavir", "paclitaxel"])],
        """# Multi-ingredient product through a contained Medication

The active prescription refers to a contained Medication (lopinavir/ritonavir) whose ingredients carry
the verified RxNorm codes 195088 and 85762; each ingredient is a P-gp inhibitor, and the card names
both.""",
    )
    r5_pem: Json = {
        "resourceType": "MedicationRequest",
        "id": "pembro-draft",
        "status": "draft",
        "intent": "proposal",
        "medication": {
            "concept": {"coding": [{"system": RX, "code": "1547545", "display": "pembrolizumab"}]}
        },
        "subject": {"reference": f"Patient/{PATIENT}"},
        "authoredOn": NOW,
    }
    r5_vera: Json = {
        "resourceType": "MedicationRequest",
        "id": "verapamil-1",
        "status": "active",
        "intent": "order",
        "medication": {"concept": {"coding": [{"system": RX, "code": "11170", "display": "verapamil"}]}},
        "subject": {"reference": f"Patient/{PATIENT}"},
        "authoredOn": "2025-02-14",
    }
    case(
        "mdr1-r5-codeablereference",
        request("mdr1-r5", "order-select", [r5_pem], [r5_vera]),
        [card(MDR1, "info", summary_contains=["verapamil", "pembrolizumab"])],
        """# FHIR R5: medication as a CodeableReference

The same pembrolizumab + verapamil case written in R5 (`medication.concept`), evaluated with
`--fhir-version R5`.""",
        fhir_version="R5",
    )


def narrow_therapeutic_index() -> None:
    rule = "pgp-inhibitor-with-narrow-therapeutic-index-substrate"
    digoxin = med(
        "digoxin-1",
        "active",
        ("3407", "digoxin"),
        "Digoxin 0.125 mg oral tablet daily",
        authored="2024-02-01",
    )
    amio = med(
        "amiodarone-1",
        "active",
        ("703", "amiodarone"),
        "Amiodarone 200 mg oral tablet daily",
        authored="2026-11-01",
    )
    case(
        "nti-digoxin-amiodarone-recent-level-patient-view",
        request(
            "nti-a", "patient-view", [], [digoxin, amio, digoxin_level("dig-level-1", "2026-11-13", 1.1)]
        ),
        [
            card(
                rule,
                "warning",
                summary_contains=["amiodarone", "digoxin"],
                detail_contains=[
                    "Digoxin level (LOINC 10535-3) in the last 14 days: 1.1 ng/mL on 2026-11-13",
                    "Evidence: observational",
                ],
            )
        ],
        """# Patient view: amiodarone with digoxin, level checked 10 days ago

The card states the most recent digoxin level (LOINC 10535-3) in the last 14 days.""",
    )
    clari = draft(
        "clarithromycin-draft", ("21212", "clarithromycin"), "Clarithromycin 500 mg oral tablet twice daily"
    )
    case(
        "nti-clarithromycin-selected-digoxin-no-level-order-select",
        request(
            "nti-b", "order-select", [clari], [digoxin, digoxin_level("dig-level-old", "2026-09-01", 0.8)]
        ),
        [
            card(
                rule,
                "warning",
                summary_contains=["clarithromycin", "digoxin"],
                detail_contains=["in the last 14 days: none in the data sent", "check a digoxin level"],
                suggestion_labels=[],
            )
        ],
        """# Clarithromycin selected for a patient on digoxin; the last level is older than 14 days

The level from 2026-09-01 is outside the window, so the card says none was found. The lever is digoxin
(a level, then its dose): the card offers no removal of clarithromycin.""",
    )
    dabi = med(
        "dabigatran-1",
        "active",
        ("1037042", "dabigatran etexilate"),
        "Dabigatran etexilate 150 mg oral capsule twice daily",
        authored="2025-05-01",
    )
    vera = draft("verapamil-draft", ("11170", "verapamil"), "Verapamil 80 mg oral tablet three times daily")
    case(
        "nti-verapamil-draft-dabigatran-order-sign",
        request("nti-c", "order-sign", [vera], [dabi]),
        [card(rule, "warning", summary_contains=["verapamil", "dabigatran"])],
        """# Verapamil about to be signed for a patient on dabigatran

There is no digoxin in this match, so the card shows no digoxin-level line.""",
    )
    case(
        "nti-digoxin-stopped",
        request("nti-d", "patient-view", [], [dict(digoxin, status="stopped"), amio]),
        [],
        """# Digoxin was stopped: no card""",
        negative_for=rule,
    )


def investigational() -> None:
    rule = "investigational-pgp-modulator"
    zos = draft("zosuquidar-draft", None, "Zosuquidar trihydrochloride 700 mg/m2 IV")
    case(
        "investigational-zosuquidar-order-select",
        request("inv-a", "order-select", [zos], []),
        [
            card(
                rule,
                "info",
                summary_contains=["zosuquidar", "no benefit"],
                detail_contains=["Evidence: trial", "matched by name only"],
                suggestion_labels=["Remove the draft order for zosuquidar"],
            )
        ],
        """# Zosuquidar selected

Zosuquidar has no RxNorm code and is matched by name. Randomised trials showed no benefit (ECOG 3999)
and more chemotherapy toxicity with tariquidar: `info` card with a suggestion to remove the draft.""",
    )
    val = draft("valspodar-draft", None, "Valspodar (PSC 833) oral solution")
    case(
        "investigational-valspodar-order-sign",
        request("inv-b", "order-sign", [val], []),
        [card(rule, "info", summary_contains=["valspodar"])],
        """# Valspodar about to be signed (order-sign)

Valspodar is recognised through its synonym "PSC 833" or its name.""",
    )
    ela = med(
        "elacridar-1", "active", None, "Elacridar 100 mg (clinical trial supply)", authored="2026-09-01"
    )
    case(
        "investigational-elacridar-patient-view",
        request("inv-c", "patient-view", [], [ela]),
        [card(rule, "info", summary_contains=["elacridar"])],
        """# Patient view: elacridar on record

An active elacridar prescription (investigational, name only) shows the card.""",
    )
    case(
        "investigational-tariquidar-completed",
        request(
            "inv-d",
            "patient-view",
            [],
            [med("tariquidar-1", "completed", None, "Tariquidar 150 mg IV", authored="2024-01-10")],
        ),
        [],
        """# Tariquidar course completed: no card

The study drug was given in the past; nothing is being ordered or taken now.""",
        negative_for="investigational-pgp-modulator",
    )


def ppi() -> None:
    rule = "proton-pump-inhibitor-with-checkpoint-inhibitor"
    omep = med(
        "omeprazole-1",
        "active",
        ("7646", "omeprazole"),
        "Omeprazole 20 mg oral capsule daily",
        authored="2025-06-01",
    )
    nivo = med("nivolumab-1", "active", NIVO, "Nivolumab 480 mg IV every 4 weeks", authored="2026-11-23")
    case(
        "ppi-patient-view-mid-course-no-card",
        request("ppi-a2", "patient-view", [], [omep, dict(nivo, authoredOn="2026-08-01")]),
        [],
        """# Patient view in the fourth month of nivolumab, omeprazole active

The PPI card shows where a decision is made (orders, treatment start), not on every chart view.""",
        negative_for=rule,
    )
    case(
        "ppi-omeprazole-nivolumab-patient-view",
        request("ppi-a", "patient-view", [], [omep, nivo]),
        [
            card(
                rule,
                "info",
                summary_contains=["omeprazole", "nivolumab", "observational"],
                detail_contains=["Evidence: observational", "PMID 35183773"],
            )
        ],
        """# Patient view on the day nivolumab starts: omeprazole with nivolumab

Post hoc pooled analyses of atezolizumab trials associate PPIs with less benefit. The card is `info`
and names the evidence as observational.""",
    )
    pem = draft("pembro-draft", PEMBRO, "Pembrolizumab 200 mg IV every 3 weeks")
    panto = med(
        "pantoprazole-1",
        "active",
        ("40790", "pantoprazole"),
        "Pantoprazole 40 mg oral tablet",
        authored="2026-01-05",
    )
    case(
        "ppi-pembrolizumab-selected-pantoprazole-order-select",
        request("ppi-b", "order-select", [pem], [panto]),
        [card(rule, "info", summary_contains=["pantoprazole", "pembrolizumab"], suggestion_labels=[])],
        """# Pembrolizumab selected while pantoprazole is active

The card concerns the selected pembrolizumab; the PPI is not a draft, so there is no suggestion.""",
    )
    eso = draft("esomeprazole-draft", ("283742", "esomeprazole"), "Esomeprazole 40 mg oral capsule")
    atezo = med(
        "atezolizumab-1", "active", ATEZO, "Atezolizumab 1200 mg IV every 3 weeks", authored="2026-07-01"
    )
    case(
        "ppi-esomeprazole-draft-atezolizumab-order-sign",
        request("ppi-c", "order-sign", [eso], [atezo]),
        [
            card(
                rule,
                "info",
                summary_contains=["esomeprazole", "atezolizumab"],
                suggestion_labels=[],
            )
        ],
        """# Esomeprazole about to be signed during atezolizumab therapy

The PPI is the draft order, so the card offers to remove it.""",
    )
    case(
        "ppi-omeprazole-stopped-nivolumab",
        request("ppi-d", "patient-view", [], [dict(omep, status="stopped"), nivo]),
        [],
        """# Omeprazole stopped: no card""",
        negative_for=rule,
    )


def transplant() -> None:
    rule = "checkpoint-inhibitor-in-solid-organ-transplant"
    nivo = med("nivolumab-1", "active", NIVO, "Nivolumab 240 mg IV every 2 weeks", authored="2026-09-15")
    kidney = condition(
        "kidney-tx",
        "http://snomed.info/sct",
        "737295003",
        "Transplanted kidney present (finding)",
        onset="2012-04-02",
    )
    case(
        "transplant-kidney-nivolumab-patient-view",
        request("tx-a", "patient-view", [], [nivo, kidney]),
        [
            card(
                rule,
                "warning",
                summary_contains=["nivolumab", "Transplanted kidney present"],
                detail_contains=["Evidence: observational", "PMID 30992053"],
            )
        ],
        """# Patient view: nivolumab in a kidney transplant recipient

SNOMED 737295003 (verified, three curated sources). Published series report rejection in about 40 %:
`warning`.""",
    )
    pem = draft("pembro-draft", PEMBRO, "Pembrolizumab 200 mg IV")
    liver = procedure("liver-tx", "18027006", "Transplantation of liver", performed="2016-09-30")
    case(
        "transplant-liver-procedure-pembrolizumab-order-select",
        request("tx-b", "order-select", [pem], [liver]),
        [
            card(
                rule,
                "warning",
                summary_contains=["pembrolizumab"],
                suggestion_labels=["Remove the draft order for pembrolizumab"],
            )
        ],
        """# Pembrolizumab selected; liver transplant recorded as a Procedure

The transplant is on record as a completed Procedure (SNOMED 18027006, verified). The ICI is the draft
order, so the card offers to remove it.""",
    )
    ipi = draft("ipilimumab-draft", IPI, "Ipilimumab 3 mg/kg IV")
    z94 = condition(
        "heart-tx-status",
        "http://hl7.org/fhir/sid/icd-10-cm",
        "Z94.1",
        "Heart transplant status",
        onset="2010-01-15",
    )
    case(
        "transplant-heart-icd10-ipilimumab-order-sign",
        request("tx-c", "order-sign", [ipi], [z94]),
        [card(rule, "warning", summary_contains=["ipilimumab", "Heart transplant status"])],
        """# Ipilimumab about to be signed; heart transplant status coded in ICD-10-CM (Z94.1, verified)""",
    )
    marrow = condition(
        "bmt-status", "http://hl7.org/fhir/sid/icd-10-cm", "Z94.81", "Bone marrow transplant status"
    )
    case(
        "transplant-bone-marrow-not-solid-organ",
        request("tx-d", "patient-view", [], [nivo, marrow]),
        [],
        """# Bone marrow transplant is not a solid-organ transplant

Z94.81 is deliberately not in the value set (knowledge addendum §1): no card.""",
        negative_for=rule,
    )
    refuted = condition(
        "kidney-tx",
        "http://snomed.info/sct",
        "737295003",
        "Transplanted kidney present (finding)",
        verification="entered-in-error",
    )
    case(
        "transplant-entered-in-error",
        request("tx-e", "patient-view", [], [nivo, refuted]),
        [],
        """# A transplant entry recorded in error does not count""",
        negative_for=rule,
    )


def autoimmune() -> None:
    rule = "checkpoint-inhibitor-with-autoimmune-disease"
    nivo = med("nivolumab-1", "active", NIVO, "Nivolumab 240 mg IV every 2 weeks", authored="2026-09-15")
    ra = condition("ra", "http://snomed.info/sct", "69896004", "Rheumatoid arthritis")
    case(
        "autoimmune-rheumatoid-arthritis-nivolumab-patient-view",
        request("ai-a", "patient-view", [], [nivo, ra]),
        [
            card(
                rule,
                "info",
                summary_contains=["nivolumab", "rheumatoid arthritis"],
                detail_contains=["Evidence: observational", "doi:10.7326/M17-2073"],
            )
        ],
        """# Patient view: nivolumab with rheumatoid arthritis (SNOMED 69896004, verified)""",
    )
    pem = draft("pembro-draft", PEMBRO, "Pembrolizumab 200 mg IV")
    crohn = condition("crohn", "http://snomed.info/sct", "34000006", "Crohn's disease", clinical="remission")
    case(
        "autoimmune-crohn-remission-pembrolizumab-order-select",
        request("ai-b", "order-select", [pem], [crohn]),
        [card(rule, "info", summary_contains=["pembrolizumab", "Crohn's disease"])],
        """# Pembrolizumab selected; Crohn's disease in remission

Pre-existing autoimmune disease counts in remission too: flares are the risk.""",
    )
    durva = draft("durvalumab-draft", DURVA, "Durvalumab 10 mg/kg IV")
    psoriasis = condition("psoriasis", "http://snomed.info/sct", "9014002", "Psoriasis")
    case(
        "autoimmune-psoriasis-durvalumab-order-sign",
        request("ai-c", "order-sign", [durva], [psoriasis]),
        [card(rule, "info", summary_contains=["durvalumab", "psoriasis"])],
        """# Durvalumab about to be signed in a patient with psoriasis (SNOMED 9014002, verified)""",
    )
    refuted = condition(
        "sle", "http://snomed.info/sct", "55464009", "Systemic lupus erythematosus", verification="refuted"
    )
    case(
        "autoimmune-refuted-diagnosis",
        request("ai-d", "patient-view", [], [nivo, refuted]),
        [],
        """# A refuted lupus diagnosis does not count""",
        negative_for=rule,
    )


def steroids() -> None:
    rule = "systemic-corticosteroid-at-checkpoint-inhibitor-start"
    pem = draft("pembro-draft", PEMBRO, "Pembrolizumab 200 mg IV")
    pred20 = med(
        "prednisone-1",
        "active",
        ("8640", "prednisone"),
        "Prednisone 20 mg oral tablet daily",
        authored="2026-11-01",
        dosageInstruction=daily(20),
    )
    case(
        "steroid-prednisone-20mg-pembrolizumab-first-dose-order-select",
        request("st-a", "order-select", [pem], [pred20]),
        [
            card(
                rule,
                "info",
                summary_contains=["prednisone", "pembrolizumab"],
                detail_contains=["Evidence: observational", "PMID 30125216"],
            )
        ],
        """# First pembrolizumab dose selected on prednisone 20 mg/day

20 mg/day prednisone-equivalent (at least 10) is active at the first checkpoint-inhibitor order:
Arbour et al. 2018 association, `info`.""",
    )
    nivo_d = draft("nivolumab-draft", NIVO, "Nivolumab 240 mg IV")
    dexa = med(
        "dexamethasone-1",
        "active",
        ("3264", "dexamethasone"),
        "Dexamethasone 4 mg oral tablet twice daily",
        authored="2026-11-10",
        dosageInstruction=daily(4, times=2),
    )
    case(
        "steroid-dexamethasone-nivolumab-order-sign",
        request("st-b", "order-sign", [nivo_d], [dexa]),
        [card(rule, "info", summary_contains=["dexamethasone", "nivolumab"])],
        """# Dexamethasone 4 mg twice daily (about 53 mg/day prednisone-equivalent) when nivolumab is signed""",
    )
    atezo = med(
        "atezolizumab-1", "active", ATEZO, "Atezolizumab 1200 mg IV every 3 weeks", authored="2026-11-01"
    )
    pred10 = med(
        "prednisone-1",
        "active",
        ("8640", "prednisone"),
        "Prednisone 10 mg oral tablet daily",
        authored="2026-10-15",
        dosageInstruction=daily(10),
    )
    case(
        "steroid-prednisone-10mg-atezolizumab-patient-view",
        request("st-c", "patient-view", [], [atezo, pred10]),
        [card(rule, "info", summary_contains=["prednisone", "atezolizumab"])],
        """# Patient view: atezolizumab started on 2026-11-01 while on prednisone 10 mg/day (the threshold)""",
    )
    pred5 = med(
        "prednisone-1",
        "active",
        ("8640", "prednisone"),
        "Prednisone 5 mg oral tablet daily",
        authored="2026-10-15",
        dosageInstruction=daily(5),
    )
    case(
        "steroid-dose-under-10mg",
        request("st-d", "order-select", [pem], [pred5]),
        [],
        """# Prednisone 5 mg/day is under the 10 mg threshold: no card""",
        negative_for=rule,
    )
    eye = med(
        "prednisolone-eye",
        "active",
        ("8638", "prednisolone"),
        "Prednisolone acetate 1% ophthalmic suspension",
        authored="2026-10-15",
        dosageInstruction=daily(10, route="54485002"),
    )
    case(
        "steroid-ophthalmic-never-counts",
        request("st-e", "order-select", [pem], [eye]),
        [],
        """# Ophthalmic prednisolone never counts

The route (SNOMED 54485002 ophthalmic) and the dose form make it non-systemic, whatever the dose field says.""",
        negative_for=rule,
    )
    old = med(
        "prednisone-1",
        "completed",
        ("8640", "prednisone"),
        "Prednisone 40 mg taper",
        authored="2026-06-01",
        dosageInstruction=daily(40, start="2026-06-01", end="2026-07-15"),
    )
    case(
        "steroid-outside-window",
        request("st-f", "order-select", [pem], [old]),
        [],
        """# A prednisone course that ended four months before: outside the window, no card""",
        negative_for=rule,
    )
    prior = med("nivolumab-old", "completed", NIVO, "Nivolumab 240 mg IV", authored="2025-02-01")
    case(
        "steroid-not-first-checkpoint-inhibitor",
        request("st-g", "order-select", [pem], [prior, pred20]),
        [],
        """# Not the first checkpoint inhibitor

Nivolumab was given in 2025, so pembrolizumab now is not the start of checkpoint-inhibitor therapy:
the baseline-steroid pattern does not apply.""",
        negative_for=rule,
    )


def antibiotics() -> None:
    rule = "antibiotic-before-checkpoint-inhibitor"
    pem = draft("pembro-draft", PEMBRO, "Pembrolizumab 200 mg IV")
    amox = med(
        "amox-clav-1",
        "completed",
        None,
        "Amoxicillin 875 MG / Clavulanate 125 MG Oral Tablet",
        authored="2026-11-08",
        dosageInstruction=course("2026-11-08", "2026-11-15"),
    )
    case(
        "antibiotic-amoxicillin-clavulanate-pembrolizumab-order-select",
        request("abx-a", "order-select", [pem], [amox]),
        [
            card(
                rule,
                "info",
                summary_contains=["amoxicillin and clavulanate", "pembrolizumab", "conflicting"],
                detail_contains=["Evidence: observational", "conflicts"],
            )
        ],
        """# Amoxicillin/clavulanate course ending eight days before the first pembrolizumab dose

A product recognised by name (both ingredients) within 30 days before the first ICI dose. The card
states that the evidence conflicts (the five-RCT pooled analysis found no effect of antibiotics).""",
    )
    nivo_d = draft("nivolumab-draft", NIVO, "Nivolumab 240 mg IV")
    levo = med(
        "levofloxacin-1",
        "active",
        ("82122", "levofloxacin"),
        "Levofloxacin 500 mg oral tablet daily",
        authored="2026-11-20",
        dosageInstruction=daily(500),
    )
    case(
        "antibiotic-levofloxacin-nivolumab-order-sign",
        request("abx-b", "order-sign", [nivo_d], [levo]),
        [card(rule, "info", summary_contains=["levofloxacin", "nivolumab"])],
        """# Levofloxacin running when nivolumab is signed""",
    )
    atezo = med(
        "atezolizumab-1", "active", ATEZO, "Atezolizumab 1200 mg IV every 3 weeks", authored="2026-11-01"
    )
    cipro = med(
        "ciprofloxacin-1",
        "completed",
        ("2551", "ciprofloxacin"),
        "Ciprofloxacin 500 mg oral tablet twice daily",
        authored="2026-10-10",
        dosageInstruction=course("2026-10-10", "2026-10-17"),
    )
    case(
        "antibiotic-ciprofloxacin-atezolizumab-patient-view",
        request("abx-c", "patient-view", [], [atezo, cipro]),
        [card(rule, "info", summary_contains=["ciprofloxacin", "atezolizumab"])],
        """# Patient view: ciprofloxacin ended 15 days before atezolizumab started""",
    )
    early = med(
        "ciprofloxacin-1",
        "completed",
        ("2551", "ciprofloxacin"),
        "Ciprofloxacin 500 mg",
        authored="2026-08-01",
        dosageInstruction=course("2026-08-01", "2026-08-08"),
    )
    case(
        "antibiotic-outside-30-days",
        request("abx-d", "order-select", [pem], [early]),
        [],
        """# An antibiotic course that ended 107 days before the first dose: no card""",
        negative_for=rule,
    )


def variants() -> None:
    jak = "jak1-jak2-loss-with-pd1-blockade"
    pem = med(
        "pembrolizumab-1", "active", PEMBRO, "Pembrolizumab 200 mg IV every 3 weeks", authored="2026-05-01"
    )
    case(
        "jak1-pathogenic-pembrolizumab-patient-view",
        request("jak-a", "patient-view", [], [pem, lof_variant("jak1-var", "JAK1", "pathogenic")]),
        [
            card(
                jak,
                "info",
                summary_contains=["JAK1", "pathogenic", "pembrolizumab"],
                detail_contains=["PMID 27433843"],
            )
        ],
        """# Patient view: pathogenic JAK1 variant (significance on the variant) with pembrolizumab

The older Genomics Reporting style: LOINC 69548-6 with components 48018-6 (HGNC:6190) and 53037-8
(LA6668-3 Pathogenic).""",
    )
    nivo_d = draft("nivolumab-draft", NIVO, "Nivolumab 240 mg IV")
    jak2 = lof_variant("jak2-var", "JAK2", None)
    case(
        "jak2-likely-pathogenic-implication-nivolumab-order-select",
        request(
            "jak-b",
            "order-select",
            [nivo_d],
            [jak2, implication("jak2-implication", "jak2-var", "likely pathogenic")],
        ),
        [card(jak, "info", summary_contains=["JAK2", "likely pathogenic", "nivolumab"])],
        """# Nivolumab selected; JAK2 variant whose significance is in a diagnostic-implication Observation

Genomics Reporting STU3 / mCODE STU4 style: the significance (LA26332-9 Likely Pathogenic) is in a
separate Observation derived from the variant.""",
    )
    atezo_d = draft("atezolizumab-draft", ATEZO, "Atezolizumab 1200 mg IV")
    case(
        "jak1-pathogenic-atezolizumab-order-sign",
        request("jak-c", "order-sign", [atezo_d], [lof_variant("jak1-var", "JAK1", "pathogenic")]),
        [card(jak, "info", summary_contains=["JAK1", "atezolizumab"])],
        """# Atezolizumab (PD-L1) about to be signed with a pathogenic JAK1 variant""",
    )
    case(
        "jak1-uncertain-significance",
        request("jak-d", "patient-view", [], [pem, lof_variant("jak1-var", "JAK1", "uncertain")]),
        [],
        """# A JAK1 variant of uncertain significance never fires""",
        negative_for=jak,
    )
    ipi = med("ipilimumab-1", "active", IPI, "Ipilimumab 3 mg/kg IV", authored="2026-05-01")
    case(
        "jak1-with-ctla4-only",
        request("jak-e", "patient-view", [], [ipi, lof_variant("jak1-var", "JAK1", "pathogenic")]),
        [],
        """# JAK1 loss with ipilimumab alone: the rule concerns PD-1/PD-L1 blockade, no card""",
        negative_for=jak,
    )

    b2m = "b2m-loss-with-checkpoint-inhibitor"
    case(
        "b2m-pathogenic-ipilimumab-patient-view",
        request("b2m-a", "patient-view", [], [ipi, lof_variant("b2m-var", "B2M", "pathogenic")]),
        [
            card(
                b2m,
                "info",
                summary_contains=["B2M", "ipilimumab"],
                detail_contains=["doi:10.1038/s41467-017-01062-w"],
            )
        ],
        """# Patient view: pathogenic B2M variant with ipilimumab (any checkpoint inhibitor counts)""",
    )
    pem_d = draft("pembro-draft", PEMBRO, "Pembrolizumab 200 mg IV")
    b2m_var = lof_variant("b2m-var", "B2M", None)
    case(
        "b2m-pathogenic-implication-pembrolizumab-order-select",
        request(
            "b2m-b",
            "order-select",
            [pem_d],
            [b2m_var, implication("b2m-implication", "b2m-var", "pathogenic")],
        ),
        [card(b2m, "info", summary_contains=["B2M", "pembrolizumab"])],
        """# Pembrolizumab selected; B2M pathogenic through a diagnostic-implication Observation""",
    )
    case(
        "b2m-pathogenic-nivolumab-order-sign",
        request("b2m-c", "order-sign", [nivo_d], [lof_variant("b2m-var", "B2M", "pathogenic")]),
        [card(b2m, "info", summary_contains=["B2M", "nivolumab"])],
        """# Nivolumab about to be signed with a pathogenic B2M variant""",
    )
    case(
        "b2m-likely-pathogenic-pembrolizumab-patient-view",
        request("b2m-d", "patient-view", [], [pem, lof_variant("b2m-var", "B2M", "likely pathogenic")]),
        [card(b2m, "info", summary_contains=["B2M", "likely pathogenic"])],
        """# Likely pathogenic B2M loss-of-function variant with pembrolizumab

One significance policy across the genomic rules: pathogenic and likely pathogenic both count.""",
    )
    case(
        "b2m-uncertain-significance",
        request("b2m-e", "patient-view", [], [pem, lof_variant("b2m-var", "B2M", "uncertain")]),
        [],
        """# A B2M variant of uncertain significance does not fire""",
        negative_for=b2m,
    )

    stk = "stk11-mutation-nsclc-with-pd1-blockade"
    nsclc = condition(
        "nsclc", "http://snomed.info/sct", "254637007", "Non-small cell lung cancer", onset="2026-03-01"
    )
    case(
        "stk11-nsclc-pembrolizumab-patient-view",
        request("stk-a", "patient-view", [], [pem, nsclc, variant("stk11-var", "STK11", "pathogenic")]),
        [card(stk, "info", summary_contains=["STK11", "pembrolizumab"], detail_contains=["PMID 29773717"])],
        """# Patient view: pathogenic STK11 variant in NSCLC (SNOMED 254637007) with pembrolizumab""",
    )
    case(
        "stk11-nsclc-nivolumab-order-select",
        request("stk-b", "order-select", [nivo_d], [nsclc, variant("stk11-var", "STK11", "pathogenic")]),
        [card(stk, "info", summary_contains=["STK11", "nivolumab"])],
        """# Nivolumab selected in STK11-mutant NSCLC""",
    )
    case(
        "stk11-nsclc-durvalumab-order-sign",
        request(
            "stk-c",
            "order-sign",
            [draft("durvalumab-draft", DURVA, "Durvalumab 10 mg/kg IV")],
            [nsclc, variant("stk11-var", "STK11", "pathogenic")],
        ),
        [card(stk, "info", summary_contains=["STK11", "durvalumab"])],
        """# Durvalumab about to be signed in STK11-mutant NSCLC""",
    )
    melanoma = condition("melanoma", "http://snomed.info/sct", "372244006", "Malignant melanoma")
    case(
        "stk11-without-nsclc",
        request("stk-d", "patient-view", [], [pem, melanoma, variant("stk11-var", "STK11", "pathogenic")]),
        [],
        """# STK11 variant in melanoma: the rule concerns NSCLC, no card""",
        negative_for=stk,
    )

    pten = "pten-loss-with-checkpoint-inhibitor"
    case(
        "pten-pathogenic-pembrolizumab-patient-view",
        request("pten-a", "patient-view", [], [pem, lof_variant("pten-var", "PTEN", "pathogenic")]),
        [card(pten, "info", summary_contains=["PTEN", "pembrolizumab"], detail_contains=["PMID 26645196"])],
        """# Patient view: pathogenic PTEN variant with pembrolizumab""",
    )
    case(
        "pten-pathogenic-nivolumab-order-select",
        request("pten-b", "order-select", [nivo_d], [lof_variant("pten-var", "PTEN", "pathogenic")]),
        [card(pten, "info", summary_contains=["PTEN", "nivolumab"])],
        """# Nivolumab selected with a pathogenic PTEN variant""",
    )
    case(
        "pten-pathogenic-ipilimumab-order-sign",
        request(
            "pten-c",
            "order-sign",
            [draft("ipilimumab-draft", IPI, "Ipilimumab 3 mg/kg IV")],
            [lof_variant("pten-var", "PTEN", "pathogenic")],
        ),
        [card(pten, "info", summary_contains=["PTEN", "ipilimumab"])],
        """# Ipilimumab about to be signed with a pathogenic PTEN variant""",
    )
    case(
        "pten-uncertain-significance",
        request("pten-d", "patient-view", [], [pem, lof_variant("pten-var", "PTEN", "uncertain")]),
        [],
        """# A PTEN variant of uncertain significance never fires""",
        negative_for=pten,
    )


def progression() -> None:
    rule = "checkpoint-inhibitor-progression"
    nivo = med("nivolumab-1", "active", NIVO, "Nivolumab 240 mg IV every 2 weeks", authored="2026-03-01")
    case(
        "progression-acquired-nivolumab-patient-view",
        request(
            "prog-a",
            "patient-view",
            [],
            [
                nivo,
                disease_status("status-1", "improved", "2026-06-01"),
                disease_status("status-2", "worsened", "2026-10-20"),
            ],
        ),
        [
            card(
                rule,
                "info",
                summary_contains=["nivolumab", "acquired resistance pattern"],
                detail_contains=["iRECIST", "PMID 28271869"],
            )
        ],
        """# Patient view: improvement on nivolumab, then worsening: acquired-resistance pattern

mCODE disease status (LOINC 97509-4) improved (268910001) on 2026-06-01 and worsened (271299001) on
2026-10-20, both after the first nivolumab dose on 2026-03-01. The card asks for confirmation first
(iRECIST: pseudoprogression).""",
    )
    nivo_d = draft("nivolumab-draft", NIVO, "Nivolumab 240 mg IV")
    first = med("nivolumab-1", "active", NIVO, "Nivolumab 240 mg IV every 2 weeks", authored="2026-05-04")
    case(
        "progression-primary-nivolumab-order-select",
        request(
            "prog-b", "order-select", [nivo_d], [first, disease_status("status-1", "worsened", "2026-08-10")]
        ),
        [card(rule, "info", summary_contains=["nivolumab", "primary resistance pattern"])],
        """# The next nivolumab dose is selected after worsening with no recorded improvement: primary pattern""",
    )
    pem = med(
        "pembrolizumab-1", "active", PEMBRO, "Pembrolizumab 200 mg IV every 3 weeks", authored="2026-04-01"
    )
    case(
        "progression-pembrolizumab-order-sign",
        request(
            "prog-c",
            "order-sign",
            [draft("pembro-draft", PEMBRO, "Pembrolizumab 200 mg IV")],
            [pem, disease_status("status-1", "worsened", "2026-09-15")],
        ),
        [card(rule, "info", summary_contains=["pembrolizumab", "primary"])],
        """# Pembrolizumab about to be signed again after worsening on it""",
    )
    case(
        "progression-before-first-checkpoint-inhibitor",
        request("prog-d", "patient-view", [], [first, disease_status("status-1", "worsened", "2026-01-15")]),
        [],
        """# Worsening before the first checkpoint-inhibitor dose is not resistance to it: no card""",
        negative_for=rule,
    )
    case(
        "progression-improved-only",
        request("prog-e", "patient-view", [], [nivo, disease_status("status-1", "improved", "2026-06-01")]),
        [],
        """# Improvement on nivolumab: no card""",
        negative_for=rule,
    )


def mdr_phenotype() -> None:
    rule = "possible-mdr-phenotype-sequential-pgp-substrates"
    pacli = med(
        "paclitaxel-1",
        "completed",
        ("56946", "paclitaxel"),
        "Paclitaxel 175 mg/m2 IV",
        authored="2025-01-10",
        dosageInstruction=course("2025-01-10", "2025-05-30"),
    )
    doce = med(
        "docetaxel-1",
        "completed",
        ("72962", "docetaxel"),
        "Docetaxel 75 mg/m2 IV",
        authored="2025-09-01",
        dosageInstruction=course("2025-09-01", "2026-02-15"),
    )
    case(
        "mdr-phenotype-paclitaxel-docetaxel-patient-view",
        request(
            "mdr-a", "patient-view", [], [pacli, doce, disease_status("status-1", "worsened", "2026-10-02")]
        ),
        [
            card(
                rule,
                "info",
                summary_contains=["docetaxel, paclitaxel", "possible MDR1-mediated"],
                detail_contains=["Evidence: preclinical", "doi:10.1038/nrc706"],
            )
        ],
        """# Worsening after paclitaxel and then docetaxel

Two distinct P-gp-substrate agents (Scripture & Figg 2006) were started before the worsened disease
status, so the possible MDR-phenotype card fires. It is worded as a hypothesis resting on laboratory
evidence.""",
    )
    again = med(
        "paclitaxel-2",
        "completed",
        ("56946", "paclitaxel"),
        "Paclitaxel 80 mg/m2 weekly IV",
        authored="2025-09-01",
    )
    case(
        "mdr-phenotype-one-agent-only",
        request(
            "mdr-b", "patient-view", [], [pacli, again, disease_status("status-1", "worsened", "2026-10-02")]
        ),
        [],
        """# Two paclitaxel courses are one agent: no card""",
        negative_for=rule,
    )
    case(
        "mdr-phenotype-agents-after-progression",
        request(
            "mdr-c",
            "patient-view",
            [],
            [
                dict(pacli, authoredOn="2026-11-01", dosageInstruction=course("2026-11-01", "2026-11-20")),
                dict(doce, authoredOn="2026-11-10", dosageInstruction=course("2026-11-10", "2026-11-20")),
                disease_status("status-1", "worsened", "2026-10-02"),
            ],
        ),
        [],
        """# The P-gp substrates were started after the worsening: no card""",
        negative_for=rule,
    )


def abcb1_gain() -> None:
    rule = "abcb1-overexpression-with-pgp-substrate-chemotherapy"
    pacli = med(
        "paclitaxel-1",
        "active",
        ("56946", "paclitaxel"),
        "Paclitaxel 175 mg/m2 IV every 3 weeks",
        authored="2026-09-01",
    )
    case(
        "abcb1-gain-paclitaxel-patient-view",
        request("abcb1-a", "patient-view", [], [pacli, copy_number_variant("abcb1-var", "ABCB1", "gr-gain")]),
        [
            card(
                rule,
                "info",
                summary_contains=["ABCB1 copy number gain", "paclitaxel"],
                detail_contains=["Evidence: preclinical", "not a contraindication", "doi:10.1038/nrc706"],
            )
        ],
        """# Patient view: ABCB1 copy-number gain with active paclitaxel

Genomics Reporting STU3 style: the variant's DNA change type (LOINC 48019-4) is SO:0001742
copy_number_gain. The evidence is preclinical, so the card is worded as a possible loss of efficacy.""",
    )
    case(
        "abcb1-gain-doxorubicin-order-select",
        request(
            "abcb1-b",
            "order-select",
            [draft("doxorubicin-draft", ("3639", "doxorubicin"), "Doxorubicin 60 mg/m2 IV")],
            [copy_number_variant("abcb1-var", "ABCB1", "mcode-gain")],
        ),
        [card(rule, "info", summary_contains=["ABCB1", "doxorubicin"])],
        """# Doxorubicin selected with an ABCB1 copy-number gain (mCODE STU4 style)

mCODE STU4's MYCN example codes the change with the Genomics Reporting 'molecular-consequence'
component and spells the Sequence Ontology URI with a trailing slash; both are read.""",
    )
    case(
        "abcb1-gain-docetaxel-order-sign",
        request(
            "abcb1-c",
            "order-sign",
            [draft("docetaxel-draft", ("72962", "docetaxel"), "Docetaxel 75 mg/m2 IV")],
            [copy_number_variant("abcb1-var", "ABCB1", "gr-gain")],
        ),
        [card(rule, "info", summary_contains=["ABCB1", "docetaxel"])],
        """# Docetaxel about to be signed with an ABCB1 copy-number gain""",
    )
    case(
        "abcb1-copy-number-variation-without-direction",
        request("abcb1-d", "patient-view", [], [pacli, copy_number_variant("abcb1-var", "ABCB1", "gr-cnv")]),
        [],
        """# A copy-number variation with copy number 3 is not read as a gain: no card

This is the shape of Genomics Reporting STU3's official ExampleSomaticCNV (SO:0001019 with LOINC
82155-3 = 3). Calling it a gain needs the ploidy and a threshold, and no cited source gives one, so the
rule does not fire (docs/clinical-safety.md, known gaps).""",
        negative_for=rule,
    )
    case(
        "abcb1-gain-paclitaxel-stopped",
        request(
            "abcb1-e",
            "patient-view",
            [],
            [dict(pacli, status="stopped"), copy_number_variant("abcb1-var", "ABCB1", "gr-gain")],
        ),
        [],
        """# ABCB1 copy-number gain, but paclitaxel was stopped: no card""",
        negative_for=rule,
    )


def build() -> dict[str, tuple[Json, Json, str]]:
    """Every case, by directory name."""
    CASES.clear()
    for add in (
        mdr1_and_pgp,
        narrow_therapeutic_index,
        investigational,
        ppi,
        transplant,
        autoimmune,
        steroids,
        antibiotics,
        variants,
        progression,
        mdr_phenotype,
        abcb1_gain,
        *golden_real_shapes.ALL,
        *golden_generalised.ALL,
        *golden_genomic.ALL,
    ):
        add()
    return CASES


if __name__ == "__main__":
    build()
    write_all()
    print(f"wrote {len(CASES)} cases to {SAMPLES}")
