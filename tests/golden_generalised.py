"""Golden cases for clinical reading that generalises (issue #21): codes outrank text, text is read by
ConText, ICD-10-CM by hierarchy and in claims spelling, every solid organ, the autoimmune class from its
source. Each positive has a near-miss negative of the same class. Registered by golden_cases."""

from __future__ import annotations

from typing import Any

from golden_builder import RX, SNOMED, Json, card, case, condition, course, draft, med, request, variant

ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
NIVO = ("1597876", "nivolumab")
TRANSPLANT = "checkpoint-inhibitor-in-solid-organ-transplant"
AUTOIMMUNE = "checkpoint-inhibitor-with-autoimmune-disease"


def coded(rid: str, system: str, code: str, display: str, text: str) -> Json:
    """A Condition with a code and a free text that says more than the code."""
    resource = condition(rid, system, code, display)
    resource["code"]["text"] = text
    return resource


def text_only(rid: str, text: str) -> Json:
    resource = condition(rid, SNOMED, "0", text)
    resource["code"] = {"text": text}
    return resource


def nivolumab_order(name: str, data: list[Json]) -> Json:
    return request(name, "order-sign", [draft("nivo-draft", NIVO, "Nivolumab 240 mg IV")], data)


def transplant_warning() -> list[Json]:
    return [card(TRANSPLANT, "warning", summary_contains=["nivolumab"])]


def autoimmune_card(*names: str) -> list[Json]:
    return [card(AUTOIMMUNE, "info", summary_contains=["nivolumab", *names])]


def codes_outrank_text() -> None:
    case(
        "context-icd10cm-z940-deceased-donor-text-fires",
        nivolumab_order(
            "g-1",
            [
                coded(
                    "tx-1",
                    ICD10CM,
                    "Z940",
                    "Kidney transplant status",
                    "Deceased donor renal transplant 2015, no rejection",
                )
            ],
        ),
        transplant_warning(),
        """# ICD-10-CM Z940 (claims spelling of Z94.0) whose text says "deceased donor" and "no rejection"

A coded diagnosis is never voided by words in its free text: the patient is a kidney recipient.""",
    )
    case(
        "context-snomed-kidney-transplant-living-donor-text-fires",
        nivolumab_order(
            "g-2",
            [
                coded(
                    "tx-2",
                    SNOMED,
                    "737295003",
                    "Transplanted kidney present",
                    "S/p living related donor kidney transplant",
                )
            ],
        ),
        transplant_warning(),
        """# SNOMED 737295003 with the text "S/p living related donor kidney transplant": a recipient""",
    )
    case(
        "context-snomed-ra-not-on-dmards-fires",
        nivolumab_order(
            "g-3",
            [
                coded(
                    "ra-1", SNOMED, "69896004", "Rheumatoid arthritis", "Rheumatoid arthritis, not on DMARDs"
                )
            ],
        ),
        autoimmune_card("rheumatoid arthritis"),
        """# SNOMED rheumatoid arthritis whose text says "not on DMARDs": still the patient's disease""",
    )
    case(
        "context-icd10cm-bone-marrow-transplant-no-card",
        nivolumab_order(
            "g-4", [coded("bmt-1", ICD10CM, "Z94.81", "Bone marrow transplant status", "Allogeneic BMT 2018")]
        ),
        [],
        """# ICD-10-CM Z94.81 bone marrow transplant status: not a solid organ (near miss of the Z94 class)""",
        negative_for=TRANSPLANT,
    )
    case(
        "context-icd10cm-corneal-transplant-no-card",
        nivolumab_order(
            "g-5",
            [
                coded(
                    "cornea-1", ICD10CM, "Z94.7", "Corneal transplant status", "Corneal transplant, left eye"
                )
            ],
        ),
        [],
        """# ICD-10-CM Z94.7 corneal transplant status: a tissue graft, not a solid organ""",
        negative_for=TRANSPLANT,
    )


def text_by_context() -> None:
    case(
        "context-text-living-donor-kidney-transplant-fires",
        nivolumab_order("g-6", [text_only("tx-3", "S/p living related donor kidney transplant")]),
        transplant_warning(),
        """# Free text "S/p living related donor kidney transplant" (no code): the head noun is the transplant

ConText reads "donor" before the organ as part of the transplant's description, not as the patient being
a donor.""",
    )
    case(
        "context-text-ddrt-fires",
        nivolumab_order("g-7", [text_only("tx-4", "s/p DDRT 2015, stable graft function")]),
        transplant_warning(),
        """# "s/p DDRT" (deceased donor renal transplant) in free text: a kidney recipient""",
    )
    case(
        "context-text-donor-for-kidney-transplant-no-card",
        nivolumab_order("g-8", [text_only("donor-2", "Donor for kidney transplant to her brother, 2019")]),
        [],
        """# "Donor for kidney transplant": the patient gave the organ (ConText project rule DONOR)""",
        negative_for=TRANSPLANT,
    )
    case(
        "context-text-no-rheumatoid-arthritis-no-card",
        nivolumab_order("g-9", [text_only("ra-2", "No rheumatoid arthritis; osteoarthritis of knees")]),
        [],
        """# "No rheumatoid arthritis" (text only): negated by ConText""",
        negative_for=AUTOIMMUNE,
    )
    case(
        "context-text-possible-sjogren-no-card",
        nivolumab_order("g-10", [text_only("sj-1", "Possible Sjögren's syndrome, work-up pending")]),
        [],
        """# "Possible Sjögren's syndrome": not established (ConText possible existence)""",
        negative_for=AUTOIMMUNE,
    )


def class_members() -> None:
    case(
        "class-icd10cm-pancreas-transplant-fires",
        nivolumab_order(
            "g-11",
            [coded("tx-5", ICD10CM, "Z94.83", "Pancreas transplant status", "Pancreas transplant status")],
        ),
        transplant_warning(),
        """# ICD-10-CM Z94.83 pancreas transplant status: every solid organ counts""",
    )
    case(
        "class-text-simultaneous-pancreas-kidney-fires",
        nivolumab_order("g-12", [text_only("tx-6", "Simultaneous pancreas-kidney transplant (2017)")]),
        transplant_warning(),
        """# "Simultaneous pancreas-kidney transplant" in free text""",
    )
    case(
        "class-icd10cm-felty-syndrome-fires",
        nivolumab_order(
            "g-13",
            [coded("ra-3", ICD10CM, "M05.00", "Felty's syndrome, unspecified site", "Felty's syndrome")],
        ),
        autoimmune_card(),
        """# ICD-10-CM M05.00 Felty's syndrome: a descendant of M05, seropositive rheumatoid arthritis""",
    )
    case(
        "class-icd10cm-inflammatory-polyarthropathy-no-card",
        nivolumab_order(
            "g-14",
            [coded("ip-1", ICD10CM, "M06.4", "Inflammatory polyarthropathy", "Inflammatory polyarthropathy")],
        ),
        [],
        """# ICD-10-CM M06.4 inflammatory polyarthropathy: in M06 but not rheumatoid arthritis (left out)""",
        negative_for=AUTOIMMUNE,
    )
    case(
        "class-icd10cm-sjogren-fires",
        nivolumab_order(
            "g-15", [coded("sj-2", ICD10CM, "M35.01", "Sjögren syndrome with keratoconjunctivitis", "Sicca")]
        ),
        autoimmune_card(),
        """# ICD-10-CM M35.01: Sjögren syndrome (M35.0 and every code below it)""",
    )
    case(
        "class-text-hashimoto-possessive-fires",
        nivolumab_order("g-16", [text_only("thy-1", "Hashimoto's thyroiditis on levothyroxine")]),
        autoimmune_card(),
        """# "Hashimoto's thyroiditis": possessives are normalised in names""",
    )
    case(
        "class-text-coeliac-disease-fires",
        nivolumab_order("g-17", [text_only("cd-1", "Coeliac disease, gluten-free diet")]),
        autoimmune_card(),
        """# "Coeliac disease" (British spelling): a member of the class the issue does not name""",
    )
    case(
        "class-icd10cm-granulomatosis-with-polyangiitis-fires",
        nivolumab_order(
            "g-18",
            [coded("gpa-1", ICD10CM, "M31.31", "Wegener's granulomatosis with renal involvement", "GPA")],
        ),
        autoimmune_card(),
        """# ICD-10-CM M31.31: granulomatosis with polyangiitis, a systemic vasculitis""",
    )
    case(
        "class-icd10cm-thrombotic-microangiopathy-no-card",
        nivolumab_order(
            "g-19", [coded("tma-1", ICD10CM, "M31.10", "Thrombotic microangiopathy, unspecified", "TMA")]
        ),
        [],
        """# ICD-10-CM M31.10 thrombotic microangiopathy: in M31 but not an autoimmune vasculitis""",
        negative_for=AUTOIMMUNE,
    )


def patient_state() -> None:
    transplant = [coded("tx-7", SNOMED, "737295003", "Transplanted kidney present", "Kidney transplant 2012")]
    deceased = nivolumab_order("g-20", transplant)
    deceased["prefetch"]["patient"]["deceasedDateTime"] = "2026-10-30"
    case(
        "patient-deceased-no-card",
        deceased,
        [],
        """# A kidney recipient recorded as deceased (Patient.deceasedDateTime before "now")

Every card is a treatment decision, and there is none to make: no rule is evaluated and the response is
an empty card list (docs/clinical-safety.md).""",
        negative_for=TRANSPLANT,
    )
    alive = nivolumab_order("g-21", transplant)
    alive["prefetch"]["patient"]["deceasedBoolean"] = False
    case(
        "patient-deceased-false-fires",
        alive,
        transplant_warning(),
        """# The same recipient with Patient.deceasedBoolean false: the warning fires""",
    )


MDR1 = "mdr1-inhibitor-with-immunotherapy"
ANTIBIOTIC = "antibiotic-before-checkpoint-inhibitor"
PEMBRO = ("1547545", "pembrolizumab")
ORAL = {"coding": [{"system": SNOMED, "code": "26643006", "display": "Oral route"}]}


def pembrolizumab_order(name: str, data: list[Json]) -> Json:
    return request(name, "order-sign", [draft("pembro-draft", PEMBRO, "Pembrolizumab 200 mg IV")], data)


def routes() -> None:
    cyclosporine = med(
        "cyclo-1", "active", ("3008", "cyclosporine"), "cycloSPORINE 0.05 % emulsion", authored="2026-09-01"
    )
    case(
        "route-instruction-both-eyes-not-systemic-no-card",
        pembrolizumab_order(
            "g-30",
            [dict(cyclosporine, dosageInstruction=[{"text": "Instill 1 drop into both eyes twice daily"}])],
        ),
        [],
        """# Cyclosporine with no route code, the instruction "Instill 1 drop into both eyes": not systemic""",
        negative_for=MDR1,
    )
    case(
        "route-site-right-ear-not-systemic-no-card",
        pembrolizumab_order(
            "g-31",
            [
                dict(
                    cyclosporine,
                    id="cyclo-2",
                    dosageInstruction=[{"site": {"text": "Right ear"}, "text": "2 drops"}],
                )
            ],
        ),
        [],
        """# Cyclosporine with body site "Right ear" (dosage.site, text only): not systemic""",
        negative_for=MDR1,
    )
    clarithro = med(
        "clarithro-1",
        "active",
        ("21212", "clarithromycin"),
        "Clarithromycin 500 mg",
        authored="2026-11-10",
        dosageInstruction=[{"route": ORAL, "text": "500 mg twice daily; stop if eye pain"}],
    )
    case(
        "route-coded-oral-outranks-instruction-text-fires",
        pembrolizumab_order("g-32", [clarithro]),
        [
            card(MDR1, "info", summary_contains=["clarithromycin", "pembrolizumab"]),
            card(ANTIBIOTIC, "info", summary_contains=["clarithromycin"]),
        ],
        """# Clarithromycin with route coded oral (SNOMED 26643006) and an instruction that mentions the eye

The route code decides: systemic, whatever the text says. Clarithromycin is also a systemic antibiotic
within 30 days of the first pembrolizumab dose, so that card fires too.""",
    )
    verapamil = med(
        "verapamil-1", "active", ("11170", "verapamil"), "Verapamil 120 mg", authored="2026-09-01"
    )
    case(
        "route-not-stated-counts-as-systemic-and-says-so",
        pembrolizumab_order("g-33", [verapamil]),
        [
            card(
                MDR1,
                "info",
                summary_contains=["verapamil"],
                detail_contains=["route not stated: counted as systemic"],
            )
        ],
        """# Verapamil with no route, dose form or instruction: counted as systemic, and the card says so""",
    )


def antibiotic_class() -> None:
    def course_of(rid: str, coding: tuple[str, str] | None, text: str | None, **extra: Any) -> Json:
        extra.setdefault("dosageInstruction", course("2026-11-05", "2026-11-12"))
        return med(rid, "completed", coding, text, authored="2026-11-05", **extra)

    case(
        "antibiotic-class-doxycycline-by-name-fires",
        pembrolizumab_order("g-40", [course_of("doxy-1", None, "Doxycycline hyclate 100 MG Oral Capsule")]),
        [card(ANTIBIOTIC, "info", summary_contains=["doxycycline", "pembrolizumab"])],
        """# Doxycycline (ATC J01AA02), named only in the text: a member of the class the issue does not name""",
    )
    case(
        "antibiotic-class-tmp-smx-prophylaxis-fires",
        pembrolizumab_order(
            "g-41",
            [
                course_of(
                    "tmpsmx-1",
                    None,
                    "Sulfamethoxazole 800 MG / Trimethoprim 160 MG Oral Tablet (PJP prophylaxis)",
                )
            ],
        ),
        [card(ANTIBIOTIC, "info", summary_contains=["pembrolizumab"])],
        """# Trimethoprim-sulfamethoxazole prophylaxis in the 30 days before the first pembrolizumab dose""",
    )
    case(
        "antibiotic-class-rxnorm-code-only-fires",
        pembrolizumab_order(
            "g-42",
            [
                course_of(
                    "tmp-1",
                    None,
                    None,
                    medicationCodeableConcept={"coding": [{"system": RX, "code": "10829"}]},
                )
            ],
        ),
        [card(ANTIBIOTIC, "info", summary_contains=["trimethoprim"])],
        """# Trimethoprim coded only by its RxNorm ingredient code 10829, no display and no text""",
    )
    case(
        "antibiotic-class-cefazolin-atc-code-fires",
        pembrolizumab_order(
            "g-43",
            [
                course_of(
                    "cefaz-1",
                    None,
                    None,
                    medicationCodeableConcept={
                        "coding": [{"system": "http://www.whocc.no/atc", "code": "J01DB04"}]
                    },
                )
            ],
        ),
        [card(ANTIBIOTIC, "info", summary_contains=["cefazolin"])],
        """# Cefazolin coded only by ATC J01DB04""",
    )
    case(
        "antibiotic-class-metronidazole-vaginal-gel-no-card",
        pembrolizumab_order(
            "g-44",
            [
                course_of(
                    "metro-1",
                    None,
                    "Metronidazole 0.75 % Vaginal Gel",
                    dosageInstruction=[{"text": "Insert vaginally at bedtime for 5 days"}],
                )
            ],
        ),
        [],
        """# Metronidazole vaginal gel: an antibacterial, but not systemic (dose form and instruction)""",
        negative_for=ANTIBIOTIC,
    )
    case(
        "antibiotic-class-fusidic-acid-cream-no-card",
        pembrolizumab_order("g-45", [course_of("fus-1", None, "Fusidic acid 2 % Topical Cream")]),
        [],
        """# Fusidic acid cream (J01XC01 substance, topical product): not systemic""",
        negative_for=ANTIBIOTIC,
    )


def diagnosis_qualifiers() -> None:
    stk11 = "stk11-mutation-nsclc-with-pd1-blockade"
    pem = med(
        "pembrolizumab-1", "active", PEMBRO, "Pembrolizumab 200 mg IV every 3 weeks", authored="2026-05-01"
    )
    case(
        "qualifiers-adenocarcinoma-right-upper-lobe-fires",
        request(
            "g-50",
            "patient-view",
            [],
            [
                pem,
                text_only("nsclc-q", "Adenocarcinoma of right upper lobe of lung, stage IIIB"),
                variant("stk11-var", "STK11", "pathogenic"),
            ],
        ),
        [card(stk11, "info", summary_contains=["STK11", "pembrolizumab"])],
        """# "Adenocarcinoma of right upper lobe of lung, stage IIIB" (text only) is NSCLC

Laterality, lobe and stage words may stand between the words of "adenocarcinoma of lung".""",
    )
    case(
        "qualifiers-adenocarcinoma-of-colon-no-card",
        request(
            "g-51",
            "patient-view",
            [],
            [
                pem,
                text_only("crc-q", "Adenocarcinoma of right colon, stage III"),
                variant("stk11-var", "STK11", "pathogenic"),
            ],
        ),
        [],
        """# "Adenocarcinoma of right colon": qualifiers do not make another organ's cancer NSCLC""",
        negative_for=stk11,
    )


def brands_and_inhibitors() -> None:
    tx = [coded("tx-9", SNOMED, "737295003", "Transplanted kidney present", "Kidney transplant 2012")]
    case(
        "class-brand-jemperli-transplant-fires",
        request("g-60", "order-sign", [draft("jem-draft", None, "Jemperli 500 mg IV every 3 weeks")], tx),
        [card(TRANSPLANT, "warning", summary_contains=["dostarlimab"])],
        """# "Jemperli" (brand of dostarlimab, openFDA NDC 0173-0898) ordered for a kidney recipient""",
    )
    cobi = med("cobi-1", "active", None, "Cobicistat 150 mg tablet once daily", authored="2026-06-01")
    case(
        "class-cobicistat-antiretroviral-not-to-be-changed",
        pembrolizumab_order("g-61", [cobi]),
        [
            card(
                MDR1,
                "info",
                summary_contains=["cobicistat"],
                detail_contains=["do not change it because of this signal"],
            )
        ],
        """# Cobicistat (antiretroviral booster, matched by name only) with pembrolizumab

The preclinical MDR1 card never suggests changing antiretroviral therapy.""",
    )


ALL = (
    codes_outrank_text,
    text_by_context,
    class_members,
    patient_state,
    routes,
    antibiotic_class,
    diagnosis_qualifiers,
    brands_and_inhibitors,
)
