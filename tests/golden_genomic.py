"""Golden cases for genomic reports as laboratories send them (issue #21 item 5): HGVS without 'p.',
one-letter codes and '*', the legacy 'X', start loss, in-frame deletions, canonical splice sites and
frameshifts written only as cDNA, copy number by LOINC 62378-5 and 82155-3, and the loss-of-function
policy by gene role. Each positive has a near-miss negative of the same class. Registered by golden_cases.
"""

from __future__ import annotations

from golden_builder import LOINC, Json, card, case, med, request, variant

PEMBRO = ("1547545", "pembrolizumab")
DOCETAXEL = ("72962", "docetaxel")
PTEN = "pten-loss-with-checkpoint-inhibitor"
B2M = "b2m-loss-with-checkpoint-inhibitor"
JAK = "jak1-jak2-loss-with-pd1-blockade"
ABCB1 = "abcb1-overexpression-with-pgp-substrate-chemotherapy"
TBD = "http://hl7.org/fhir/uv/genomics-reporting/CodeSystem/tbd-codes-cs"


def pembrolizumab() -> Json:
    return med(
        "pembrolizumab-1", "active", PEMBRO, "Pembrolizumab 200 mg IV every 3 weeks", authored="2026-05-01"
    )


def docetaxel() -> Json:
    return med(
        "docetaxel-1", "active", DOCETAXEL, "Docetaxel 75 mg/m2 IV every 3 weeks", authored="2026-06-01"
    )


def reported(
    rid: str,
    gene: str,
    significance: str | None,
    protein: str | None = None,
    cdna: str | None = None,
    extra: list[Json] | None = None,
) -> Json:
    """A variant Observation carrying the HGVS changes as a laboratory wrote them (as text)."""
    resource = variant(rid, gene, significance)
    for code, display, text in (
        ("48005-3", "Amino acid change (pHGVS)", protein),
        ("48004-6", "DNA change (c.HGVS)", cdna),
    ):
        if text is not None:
            resource["component"].append(
                {
                    "code": {"coding": [{"system": LOINC, "code": code, "display": display}]},
                    "valueCodeableConcept": {"text": text},
                }
            )
    resource["component"] += extra or []
    return resource


def copy_number_change(answer: str) -> Json:
    """LOINC 62378-5 Chromosome copy number change [Type] with its answer (gain or loss)."""
    code, display = {"gain": ("LA14033-7", "Copy number gain"), "loss": ("LA14034-5", "Copy number loss")}[
        answer
    ]
    return {
        "code": {
            "coding": [
                {"system": LOINC, "code": "62378-5", "display": "Chromosome copy number change [Type]"}
            ]
        },
        "valueCodeableConcept": {"coding": [{"system": LOINC, "code": code, "display": display}]},
    }


def copy_number(copies: int) -> Json:
    """LOINC 82155-3 Genomic structural variant copy number."""
    return {
        "code": {
            "coding": [
                {"system": LOINC, "code": "82155-3", "display": "Genomic structural variant copy number"}
            ]
        },
        "valueQuantity": {"value": copies, "system": "http://unitsofmeasure.org", "code": "1"},
    }


def functional_effect(text: str) -> Json:
    return {
        "code": {"coding": [{"system": TBD, "code": "functional-effect"}]},
        "valueCodeableConcept": {"text": text},
    }


def patient_view(name: str, data: list[Json]) -> Json:
    return request(name, "patient-view", [], data)


def protein_notations() -> None:
    case(
        "genomic-pten-one-letter-stop-without-p-fires",
        patient_view("gx-1", [pembrolizumab(), reported("pten-var", "PTEN", "pathogenic", protein="R130*")]),
        [card(PTEN, "info", summary_contains=["PTEN p.Arg130Ter", "pembrolizumab"])],
        """# PTEN "R130*" (one-letter code, '*' for the stop, no 'p.'), pathogenic, with pembrolizumab

The HGVS parser reads the change as p.Arg130Ter (stop gained) and the card names it.""",
    )
    case(
        "genomic-pten-one-letter-stop-uncertain-significance-no-card",
        patient_view("gx-2", [pembrolizumab(), reported("pten-var", "PTEN", "uncertain", protein="R130*")]),
        [],
        """# The same PTEN R130* classified as of uncertain significance: no card""",
        negative_for=PTEN,
    )
    case(
        "genomic-jak1-start-loss-fires",
        patient_view(
            "gx-3", [pembrolizumab(), reported("jak1-var", "JAK1", "likely pathogenic", protein="p.Met1?")]
        ),
        [card(JAK, "info", summary_contains=["JAK1 p.Met1?", "pembrolizumab"])],
        """# JAK1 p.Met1? (start loss: the initiation codon is lost), likely pathogenic, with pembrolizumab

Start loss is a loss-of-function consequence, so it meets JAK1's explicit loss requirement.""",
    )
    case(
        "genomic-jak2-inframe-deletion-no-card",
        patient_view(
            "gx-4",
            [pembrolizumab(), reported("jak2-var", "JAK2", "pathogenic", protein="p.Asn542_Glu543del")],
        ),
        [],
        """# JAK2 p.Asn542_Glu543del (an in-frame exon 12 deletion), pathogenic: no card

Exon 12 in-frame deletions activate JAK2: JAK1/JAK2 keep the explicit loss requirement.""",
        negative_for=JAK,
    )
    case(
        "genomic-jak1-legacy-x-stop-fires",
        patient_view("gx-5", [pembrolizumab(), reported("jak1-var", "JAK1", "pathogenic", protein="Q503X")]),
        [card(JAK, "info", summary_contains=["JAK1 p.Gln503Ter"])],
        """# JAK1 "Q503X" (the legacy 'X' for a stop), pathogenic, with pembrolizumab""",
    )
    case(
        "genomic-jak1-missense-no-card",
        patient_view("gx-6", [pembrolizumab(), reported("jak1-var", "JAK1", "pathogenic", protein="V658F")]),
        [],
        """# JAK1 "V658F" (missense; activating in leukaemia), pathogenic: no card (no loss stated)""",
        negative_for=JAK,
    )


def cdna_notations() -> None:
    case(
        "genomic-jak2-canonical-splice-site-fires",
        patient_view(
            "gx-7", [pembrolizumab(), reported("jak2-var", "JAK2", "pathogenic", cdna="c.1641+1G>A")]
        ),
        [card(JAK, "info", summary_contains=["JAK2 c.1641+1G>A"])],
        """# JAK2 c.1641+1G>A (canonical splice donor site), pathogenic, with pembrolizumab""",
    )
    case(
        "genomic-jak2-deep-intronic-no-card",
        patient_view(
            "gx-8", [pembrolizumab(), reported("jak2-var", "JAK2", "pathogenic", cdna="c.1641+5G>A")]
        ),
        [],
        """# JAK2 c.1641+5G>A (outside the canonical splice site), pathogenic: no card""",
        negative_for=JAK,
    )
    case(
        "genomic-jak1-cdna-frameshift-fires",
        patient_view(
            "gx-9",
            [pembrolizumab(), reported("jak1-var", "JAK1", "pathogenic", cdna="NM_002227.4:c.1234_1235del")],
        ),
        [card(JAK, "info", summary_contains=["JAK1 c.1234_1235del"])],
        """# JAK1 c.1234_1235del (two bases: a frameshift), given only as cDNA with its transcript""",
    )
    case(
        "genomic-jak1-cdna-inframe-no-card",
        patient_view(
            "gx-10", [pembrolizumab(), reported("jak1-var", "JAK1", "pathogenic", cdna="c.1234_1236del")]
        ),
        [],
        """# JAK1 c.1234_1236del (three bases: in frame), pathogenic: no card""",
        negative_for=JAK,
    )
    case(
        "genomic-jak1-protein-and-cdna-in-one-text-fires",
        patient_view(
            "gx-11",
            [pembrolizumab(), reported("jak1-var", "JAK1", "pathogenic", cdna="c.1507C>T (p.Gln503*)")],
        ),
        [card(JAK, "info", summary_contains=["JAK1"])],
        """# JAK1 cDNA text "c.1507C>T (p.Gln503*)": the protein change in the same text is read""",
    )


def copy_numbers() -> None:
    case(
        "genomic-jak2-copy-number-loss-62378-5-fires",
        patient_view(
            "gx-12",
            [pembrolizumab(), reported("jak2-var", "JAK2", "pathogenic", extra=[copy_number_change("loss")])],
        ),
        [card(JAK, "info", summary_contains=["JAK2 copy number loss"])],
        """# JAK2 copy-number loss reported with LOINC 62378-5 = LA14034-5, pathogenic, with pembrolizumab""",
    )
    case(
        "genomic-jak2-copy-number-gain-62378-5-no-card",
        patient_view(
            "gx-13",
            [pembrolizumab(), reported("jak2-var", "JAK2", "pathogenic", extra=[copy_number_change("gain")])],
        ),
        [],
        """# JAK2 copy-number gain (LOINC 62378-5 = LA14033-7, an amplification): no loss, no card""",
        negative_for=JAK,
    )
    case(
        "genomic-jak1-zero-copies-fires",
        patient_view(
            "gx-14", [pembrolizumab(), reported("jak1-var", "JAK1", "pathogenic", extra=[copy_number(0)])]
        ),
        [card(JAK, "info", summary_contains=["JAK1 copy number 0"])],
        """# JAK1 copy number 0 (LOINC 82155-3): a homozygous deletion, which is a loss""",
    )
    case(
        "genomic-jak1-one-copy-no-card",
        patient_view(
            "gx-15", [pembrolizumab(), reported("jak1-var", "JAK1", "pathogenic", extra=[copy_number(1)])]
        ),
        [],
        """# JAK1 copy number 1 with no copy-number change type: not read as a loss (no ploidy given)""",
        negative_for=JAK,
    )
    case(
        "genomic-abcb1-gain-62378-5-with-copies-fires",
        patient_view(
            "gx-16",
            [
                docetaxel(),
                reported("abcb1-var", "ABCB1", None, extra=[copy_number_change("gain"), copy_number(8)]),
            ],
        ),
        [card(ABCB1, "info", summary_contains=["ABCB1 copy number gain (8 copies)", "docetaxel"])],
        """# ABCB1 gain by LOINC 62378-5 = LA14033-7, 8 copies, with docetaxel: the card names both""",
    )
    case(
        "genomic-abcb1-loss-62378-5-no-card",
        patient_view(
            "gx-17", [docetaxel(), reported("abcb1-var", "ABCB1", None, extra=[copy_number_change("loss")])]
        ),
        [],
        """# ABCB1 copy-number loss (LOINC 62378-5 = LA14034-5) with docetaxel: not overexpression, no card""",
        negative_for=ABCB1,
    )


def loss_policy() -> None:
    case(
        "genomic-pten-pathogenic-missense-presumed-loss-fires",
        patient_view(
            "gx-18", [pembrolizumab(), reported("pten-var", "PTEN", "pathogenic", protein="p.Arg130Gln")]
        ),
        [
            card(
                PTEN,
                "info",
                summary_contains=["PTEN p.Arg130Gln"],
                detail_contains=["Loss of PTEN function is presumed from the pathogenic classification"],
            )
        ],
        """# PTEN p.Arg130Gln (missense), pathogenic: PTEN is a tumour suppressor, loss is presumed

The card says the loss was presumed from the classification.""",
    )
    case(
        "genomic-pten-pathogenic-gain-of-function-no-card",
        patient_view(
            "gx-19",
            [
                pembrolizumab(),
                reported(
                    "pten-var",
                    "PTEN",
                    "pathogenic",
                    protein="p.Arg130Gln",
                    extra=[functional_effect("gain of function")],
                ),
            ],
        ),
        [],
        """# The same PTEN variant annotated as a gain of function: no loss is presumed, no card""",
        negative_for=PTEN,
    )
    case(
        "genomic-b2m-inframe-deletion-likely-pathogenic-fires",
        patient_view(
            "gx-20",
            [pembrolizumab(), reported("b2m-var", "B2M", "likely pathogenic", protein="p.Leu13_Ser14del")],
        ),
        [card(B2M, "info", summary_contains=["B2M p.Leu13_Ser14del"], detail_contains=["presumed"])],
        """# B2M p.Leu13_Ser14del (in-frame), likely pathogenic: B2M is a tumour suppressor, loss presumed""",
    )
    case(
        "genomic-b2m-inframe-deletion-uncertain-no-card",
        patient_view(
            "gx-21", [pembrolizumab(), reported("b2m-var", "B2M", "uncertain", protein="p.Leu13_Ser14del")]
        ),
        [],
        """# The same B2M deletion of uncertain significance: nothing is presumed, no card""",
        negative_for=B2M,
    )
    case(
        "genomic-jak1-pathogenic-no-consequence-no-card",
        patient_view("gx-22", [pembrolizumab(), variant("jak1-var", "JAK1", "pathogenic")]),
        [],
        """# JAK1 pathogenic with no consequence or change reported: JAK1 needs an explicit loss, no card""",
        negative_for=JAK,
    )


ALL = (protein_notations, cdna_notations, copy_numbers, loss_policy)
