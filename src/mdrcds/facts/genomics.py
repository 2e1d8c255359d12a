"""Genomic results: what a variant Observation, and the Observations that annotate it, say (pure).

- Presence: the variant's value (LOINC LA9633-4 Present / LA9634-2 Absent, or the words) decides
  whether it was found. A reported Absent, or a no-call, is never a variant. A variant Observation
  with no value at all is read as present (older report shapes give none) and the card says so.
- Significance: the LOINC 53037-8 answer as a code, a coded text or a string ('Pathogenic'), on the
  variant or on a diagnostic-implication Observation whose `derivedFrom` points at it.
- Loss of function: a Sequence Ontology consequence (stop_gained, frameshift, splice donor/acceptor,
  copy-number loss, loss_of_function_variant, ...) on the variant, on a molecular-consequence
  Observation or in a diagnostic implication's functional effect; else the HGVS protein change
  (Ter/* = nonsense, fs = frameshift) or a canonical splice-site cDNA change (c.N+1/+2, c.N-1/-2).
  'yes' (a loss-of-function consequence), 'no' (only other consequences, e.g. missense) or 'unknown'.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from mdrcds.facts.fhirjson import JsonObject, as_list, concept_of, has_coding
from mdrcds.facts.model import Scalar
from mdrcds.knowledge.terminology import Concept, Terminology

LOINC = "http://loinc.org"
GR_TBD = "http://hl7.org/fhir/uv/genomics-reporting/CodeSystem/tbd-codes-cs"
GENE_STUDIED = (LOINC, "48018-6")
CLINICAL_SIGNIFICANCE = (LOINC, "53037-8")
CDNA_CHANGE = (LOINC, "48004-6")
PROTEIN_CHANGE = (LOINC, "48005-3")
AMINO_ACID_CHANGE_TYPE = (LOINC, "48006-1")
# The variant's type of change (copy number gain, deletion, ...): Genomics Reporting STU3 codes the
# component LOINC 48019-4; mCODE STU4's examples code it with the GR 'molecular-consequence' TBD code.
CHANGE_TYPE = ((LOINC, "48019-4"), (GR_TBD, "molecular-consequence"))
CONSEQUENCE = (
    (GR_TBD, "molecular-consequence"),
    (GR_TBD, "feature-consequence"),
    (GR_TBD, "functional-effect"),
    (LOINC, "48019-4"),
    AMINO_ACID_CHANGE_TYPE,
)
_NONSENSE = re.compile(r"p\.\(?[A-Za-z]{1,3}\d+(Ter|\*|X)\)?$|p\.\(?[A-Za-z]{3}\d+(Ter|\*)")
_FRAMESHIFT = re.compile(r"p\.\(?[A-Za-z]{1,3}\d+[A-Za-z]{0,3}fs")
_PROTEIN_SUBSTITUTION = re.compile(r"p\.\(?[A-Za-z]{1,3}\d+[A-Za-z]{1,3}\)?$")
_SPLICE_SITE = re.compile(r"c\.\d+[+-][12][ACGT]")


@dataclass
class Annotation:
    """What annotation Observations (or the variant itself) add to a variant."""

    significance: str | None = None
    consequences: set[str] = field(default_factory=set)  # 'yes' / 'no' per consequence seen

    def merge(self, other: Annotation) -> None:
        """Add another annotation's findings; a significance already known is kept."""
        self.significance = self.significance or other.significance
        self.consequences |= other.consequences

    def loss_of_function(self) -> str:
        """'yes', 'no' or 'unknown' (see the module docstring)."""
        if "yes" in self.consequences:
            return "yes"
        return "no" if self.consequences else "unknown"


def presence_of(resource: JsonObject, terminology: Terminology) -> tuple[str, bool]:
    """('present' | 'absent' | 'indeterminate', whether the value said so) for a variant Observation."""
    concept = concept_of(resource.get("valueCodeableConcept"))
    value_string = resource.get("valueString")
    if concept is None and isinstance(value_string, str):
        concept = Concept((), value_string)
    if concept is None:
        return "present", False
    found = terminology.classify(concept, "presence")
    if not found:
        return "indeterminate", True
    names = {match.member.name for match in found}
    return ("absent" if "absent" in names else found[0].member.name), True


def annotation_of(resource: JsonObject, terminology: Terminology) -> Annotation:
    """Significance and consequences an Observation states (its value and its components)."""
    note = Annotation()
    if has_coding(resource.get("code"), [CLINICAL_SIGNIFICANCE]):
        note.significance = _significance(_value_concept(resource), terminology)
    for component in as_list(resource.get("component")):
        if not isinstance(component, dict):
            continue
        code = component.get("code")
        value = _value_concept(component)
        if value is None:
            continue
        if has_coding(code, [CLINICAL_SIGNIFICANCE]):
            note.significance = note.significance or _significance(value, terminology)
        elif has_coding(code, CONSEQUENCE):
            note.consequences |= _consequences(value, terminology)
        elif has_coding(code, [PROTEIN_CHANGE, CDNA_CHANGE]):
            note.consequences |= _from_hgvs(value)
    return note


def variant_values(resource: JsonObject, terminology: Terminology) -> dict[str, Scalar]:
    """Gene, change type and presence of a variant Observation, as fact attributes."""
    values: dict[str, Scalar] = {}
    for component in as_list(resource.get("component")):
        if not isinstance(component, dict):
            continue
        value = _value_concept(component)
        if value is None:
            continue
        code = component.get("code")
        if has_coding(code, CHANGE_TYPE):
            # Unknown change types keep their label, so they never satisfy a rule naming a member.
            changes = terminology.classify(value, "change-type")
            if changes or "change_type" not in values:
                values["change_type"] = changes[0].member.name if changes else value.label()
        if has_coding(code, [GENE_STUDIED]):
            genes = terminology.classify(value, "gene")
            values["gene"] = genes[0].member.name if genes else value.label()
    presence, stated = presence_of(resource, terminology)
    values["presence"] = presence
    if not stated:
        values["variant_note"] = "no presence value reported: read as a detected variant"
    return values


def _value_concept(element: JsonObject) -> Concept | None:
    concept = concept_of(element.get("valueCodeableConcept"))
    text = element.get("valueString")
    if concept is None and isinstance(text, str):
        return Concept((), text)
    return concept


def _significance(value: Concept | None, terminology: Terminology) -> str | None:
    if value is None:
        return None
    # The value-set member name ('pathogenic'); an unknown answer keeps its label, so it can never
    # satisfy a rule that names a classification.
    known = terminology.classify(value, "significance")
    return known[0].member.name if known else value.label()


def _consequences(value: Concept, terminology: Terminology) -> set[str]:
    found = terminology.classify(_canonical_so(value), "consequence")
    return {str(match.member.attributes.get("loss_of_function", "no")) for match in found}


def _canonical_so(value: Concept) -> Concept:
    """'SO_0002054' (as one GR example spells it) is SO:0002054."""
    codings = tuple(
        (system, code.replace("SO_", "SO:", 1) if code and code.startswith("SO_") else code, display)
        for system, code, display in value.codings
    )
    return Concept(codings, value.text)


def _from_hgvs(value: Concept) -> set[str]:
    found: set[str] = set()
    for text in _hgvs_texts(value):
        if _NONSENSE.search(text) or _FRAMESHIFT.search(text) or _SPLICE_SITE.search(text):
            found.add("yes")
        elif _PROTEIN_SUBSTITUTION.search(text) and "=" not in text:
            found.add("no")
    return found


def _hgvs_texts(value: Concept) -> Iterable[str]:
    yield from (code for _, code, _ in value.codings if code)
    yield from value.display_texts()
