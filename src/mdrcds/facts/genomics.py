"""Genomic results: what a variant Observation, and the Observations that annotate it, say (pure).

- Presence: the variant's value (LOINC LA9633-4 Present / LA9634-2 Absent, or the words) decides
  whether it was found. A reported Absent, or a no-call, is never a variant. A variant Observation
  with no value at all is read as present (older report shapes give none) and the card says so.
- Significance: the LOINC 53037-8 answer as a code, a coded text or a string ('Pathogenic'), on the
  variant or on a diagnostic-implication Observation whose `derivedFrom` points at it.
- Consequences: a Sequence Ontology consequence (stop_gained, frameshift, splice donor/acceptor,
  start lost, copy-number loss, loss_of_function_variant, ...) on the variant, on a molecular-consequence
  Observation or in a diagnostic implication's functional effect; a copy-number change (LOINC 62378-5
  answers gain / loss); a copy number (LOINC 82155-3) of 0, which is a homozygous deletion; and the
  HGVS protein and cDNA changes, parsed by `mdrcds.facts.hgvs`. The variant-consequence value set says
  which consequence is a loss of function ('yes'), is not ('no') or is a gain ('gain').
- Naming: gene, protein change, cDNA change and copy-number change or copy number, for the card
  (`variant_name`); an HGVS text the parser cannot read is shown as written.

How loss of function is finally decided, gene by gene, is `mdrcds.facts.derived.loss_of_function`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from mdrcds.facts.fhirjson import JsonObject, as_list, concept_of, has_coding
from mdrcds.facts.hgvs import read_change
from mdrcds.facts.model import Scalar
from mdrcds.knowledge.terminology import Concept, Terminology

LOINC = "http://loinc.org"
GR_TBD = "http://hl7.org/fhir/uv/genomics-reporting/CodeSystem/tbd-codes-cs"
GENE_STUDIED = (LOINC, "48018-6")
CLINICAL_SIGNIFICANCE = (LOINC, "53037-8")
CDNA_CHANGE = (LOINC, "48004-6")
PROTEIN_CHANGE = (LOINC, "48005-3")
AMINO_ACID_CHANGE_TYPE = (LOINC, "48006-1")
# LOINC 62378-5 Chromosome copy number change [Type] (answers LA14033-7 gain, LA14034-5 loss) and
# 82155-3 Genomic structural variant copy number (a quantity).
COPY_NUMBER_CHANGE = (LOINC, "62378-5")
COPY_NUMBER = (LOINC, "82155-3")
# The variant's type of change (copy number gain, deletion, ...): Genomics Reporting STU3 codes the
# component LOINC 48019-4; mCODE STU4's examples code it with the GR 'molecular-consequence' TBD code;
# other laboratories send 62378-5.
CHANGE_TYPE = ((LOINC, "48019-4"), (GR_TBD, "molecular-consequence"), COPY_NUMBER_CHANGE)
CONSEQUENCE = (
    (GR_TBD, "molecular-consequence"),
    (GR_TBD, "feature-consequence"),
    (GR_TBD, "functional-effect"),
    (LOINC, "48019-4"),
    COPY_NUMBER_CHANGE,
    AMINO_ACID_CHANGE_TYPE,
)
HGVS_LEVEL = {PROTEIN_CHANGE: "p", CDNA_CHANGE: "c"}
_SHOWN_AS_WRITTEN = 60
"""An HGVS text the parser cannot read is shown on the card as written, up to this many characters."""


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
        """What the consequences alone say: 'yes' (a loss-of-function consequence), else 'gain' (a gain
        of function or of copies), else 'no' (only other consequences, e.g. missense), else 'unknown'."""
        for verdict in ("yes", "gain", "no"):
            if verdict in self.consequences:
                return verdict
        return "unknown"


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
        elif has_coding(code, [PROTEIN_CHANGE]):
            note.consequences |= _from_hgvs(value, "p", terminology)
        elif has_coding(code, [CDNA_CHANGE]):
            note.consequences |= _from_hgvs(value, "c", terminology)
    for component in as_list(resource.get("component")):
        copy_number = isinstance(component, dict) and has_coding(component.get("code"), [COPY_NUMBER])
        if copy_number and _copy_number(component) == 0:
            # no copy left: the gene is deleted on both alleles
            note.consequences |= _consequences(Concept((), "homozygous deletion"), terminology)
    return note


def variant_values(resource: JsonObject, terminology: Terminology) -> dict[str, Scalar]:
    """Gene (and its loss policy), change type, HGVS changes, copy number, presence and the variant's
    name for a card, as fact attributes."""
    values: dict[str, Scalar] = {}
    for component in as_list(resource.get("component")):
        if not isinstance(component, dict):
            continue
        code = component.get("code")
        if has_coding(code, [COPY_NUMBER]):
            copies = _copy_number(component)
            if copies is not None:
                values["copy_number"] = copies
            continue
        value = _value_concept(component)
        if value is None:
            continue
        for coding, level in HGVS_LEVEL.items():
            if has_coding(code, [coding]) and f"{level}_change" not in values:
                shown = _hgvs_shown(value, level)
                if shown:
                    values[f"{level}_change"] = shown
        if has_coding(code, CHANGE_TYPE):
            # Unknown change types keep their label, so they never satisfy a rule naming a member.
            changes = terminology.classify(value, "change-type")
            if changes or "change_type" not in values:
                values["change_type"] = changes[0].member.name if changes else value.label()
        if has_coding(code, [GENE_STUDIED]):
            genes = terminology.classify(value, "gene")
            values["gene"] = genes[0].member.name if genes else value.label()
            if genes:
                values["loss_policy"] = str(genes[0].member.attributes.get("loss_policy", "explicit"))
    presence, stated = presence_of(resource, terminology)
    values["presence"] = presence
    if not stated:
        values["variant_note"] = "no presence value reported: read as a detected variant"
    values["variant_name"] = variant_name(values)
    return values


def variant_name(values: dict[str, Scalar]) -> str:
    """'PTEN p.(Arg130Ter) (c.388C>T)', 'ABCB1 copy number gain (6 copies)', 'JAK1 copy number 0':
    what a card calls the variant."""
    parts = [str(values.get("gene", "gene not stated"))]
    change = values.get("p_change") or values.get("c_change")
    if change:
        parts.append(str(change))
    if values.get("p_change") and values.get("c_change"):
        parts.append(f"({values['c_change']})")
    change_type = values.get("change_type")
    if change_type and str(change_type).startswith("copy number"):
        parts.append(str(change_type))
    copies = values.get("copy_number")
    if copies is not None:
        count = f"{copies:g}" if isinstance(copies, float) else str(copies)
        if len(parts) > 1 and parts[-1] == change_type:
            parts.append(f"({count} {'copy' if copies == 1 else 'copies'})")
        else:
            parts.append(f"copy number {count}")
    return " ".join(parts)


def _copy_number(component: JsonObject) -> float | int | None:
    quantity = component.get("valueQuantity")
    value = quantity.get("value") if isinstance(quantity, dict) else component.get("valueInteger")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        return None
    return int(value) if float(value).is_integer() else float(value)


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


def _from_hgvs(value: Concept, level: str, terminology: Terminology) -> set[str]:
    found: set[str] = set()
    for text in _hgvs_texts(value):
        change = read_change(text, _level_of(text, level))
        if change is not None and change.consequence is not None:
            found |= _consequences(Concept((), change.consequence), terminology)
    return found


def _level_of(text: str, default: str) -> str:
    """A description that says its level ('p.', 'NP_…:p.', 'c.') is read at it, whatever the component
    ('c.1507C>T (p.Gln503*)' in a cDNA component also gives the protein change)."""
    for level in ("p", "c"):
        if text.startswith(f"{level}.") or f":{level}." in text:
            return level
    return default


def _hgvs_shown(value: Concept, level: str) -> str | None:
    """The first description the parser reads, normalised; else the first text as written (shortened)."""
    texts = list(_hgvs_texts(value))
    for text in texts:
        change = read_change(text, level)
        if change is not None:
            return change.text
    if not texts:
        return None
    first = " ".join(texts[0].split())
    return first if len(first) <= _SHOWN_AS_WRITTEN else first[: _SHOWN_AS_WRITTEN - 1] + "…"


def _hgvs_texts(value: Concept) -> Iterable[str]:
    """Codes first, then texts; a text with several words is also offered word by word
    ('c.388C>T (p.Arg130Ter)'), at most eight words."""
    yield from (code for _, code, _ in value.codings if code)
    for text in value.display_texts():
        yield text
        words = text.replace(",", " ").replace(";", " ").split()
        if len(words) > 1:
            yield from (_unwrapped(word) for word in words[:8])


def _unwrapped(word: str) -> str:
    """'(p.Arg130Ter)' and 'p.Arg130Ter)' are p.Arg130Ter; 'p.(Arg130Ter)' stays as written."""
    if word.startswith(("(", "[")):
        word = word[1:].rstrip(")]") if word.count("(") + word.count("[") == 1 else word[1:-1]
    elif word.count("(") < word.count(")"):
        word = word[:-1]
    return word
