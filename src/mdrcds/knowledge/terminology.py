"""Value sets and the lookups that classify codes and names into them.

A value set (one YAML file under `rules/valuesets/`) has members; a member has codes (RxNorm, ATC,
SNOMED CT, LOINC, HGNC, ...) and names. Classification tries codes first, then the member names and
synonyms as whole words inside normalised display text (`mdrcds.knowledge.names`: linear in the
text's length, qualifiers such as laterality allowed between a name's words), so that a product-level
code such as RxNorm 583214 "PACLitaxel 100 MG Injection" still classifies as paclitaxel (matched by
name).

ICD-10-CM codes are normalised as claims send them ("Z940" is Z94.0, "m05.011" is M05.011) and match by
hierarchy: a member coded with a category or subcategory (M05, M05.0) matches every code below it,
since ICD-10-CM's hierarchy is its codes' prefixes (`mdrcds.knowledge.icd10cm` checks the value sets'
codes against the CMS release).

ATC codes match by hierarchy: a member coded with a class (J01, A02BC, L01FF) matches every code
below it (J01FA01, L01FF12). Such a class-level match is dropped when a more specific member of the
same value set matched the same concept, so one drug gives one fact per value set.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from mdrcds.knowledge.names import NameIndex

SYSTEM_URIS: Mapping[str, str] = {
    "rxnorm": "http://www.nlm.nih.gov/research/umls/rxnorm",
    "atc": "http://www.whocc.no/atc",
    "snomed": "http://snomed.info/sct",
    "loinc": "http://loinc.org",
    "hgnc": "http://www.genenames.org",
    "ncit": "http://ncicb.nci.nih.gov/xml/owl/EVS/Thesaurus.owl#",
    "icd10cm": "http://hl7.org/fhir/sid/icd-10-cm",
    "genomics-tbd": "http://hl7.org/fhir/uv/genomics-reporting/CodeSystem/tbd-codes-cs",
    "sequence-ontology": "http://www.sequenceontology.org",
}
"""Short names used in value-set files, and the FHIR system URI each stands for."""

_URI_TO_SHORT = {uri: short for short, uri in SYSTEM_URIS.items()}
# Other spellings of the same systems seen in real data.
_URI_TO_SHORT.update(
    {
        "urn:oid:2.16.840.1.113883.6.88": "rxnorm",
        "http://www.whocc.no/atc/": "atc",
        "urn:oid:2.16.840.1.113883.6.73": "atc",
        "urn:oid:2.16.840.1.113883.6.96": "snomed",
        "urn:oid:2.16.840.1.113883.6.1": "loinc",
        "http://www.genenames.org/geneId": "hgnc",
        "https://www.genenames.org": "hgnc",
        "https://www.genenames.org/": "hgnc",
        "http://www.genenames.org/": "hgnc",
        # mCODE STU4's examples spell Sequence Ontology with a trailing slash.
        "http://www.sequenceontology.org/": "sequence-ontology",
    }
)

MatchedBy = Literal["code", "name"]


def system_short_name(system: str | None) -> str | None:
    """The short name ('rxnorm', 'atc', ...) for a FHIR system URI, or None when it is not one we know."""
    if not system:
        return None
    return _URI_TO_SHORT.get(system.strip())


def normalise_code(short_system: str, code: str) -> str:
    """Canonical form of a code for comparison: HGNC ids with and without the 'HGNC:' prefix are one."""
    code = code.strip()
    if short_system == "hgnc":
        return code.upper().removeprefix("HGNC:")
    if short_system == "atc":
        return code.upper()
    if short_system == "icd10cm":
        return normalise_icd10cm(code)
    return code


def normalise_icd10cm(code: str) -> str:
    """An ICD-10-CM code as the CMS release writes it: upper case, the dot after the category."""
    code = "".join(code.split()).upper()
    return code[:3] + "." + code[3:] if len(code) > 3 and "." not in code else code


def _icd10cm_ancestors(code: str) -> tuple[str, ...]:
    """An ICD-10-CM code and the subcategories and category above it: M05.011, M05.01, M05.0, M05."""
    out = [code]
    while len(code) > 3:
        code = code[:-1].rstrip(".")
        out.append(code)
    return tuple(out)


def _atc_ancestors(code: str) -> tuple[str, ...]:
    """An ATC code and the classes above it, most specific first: L01FF02, L01FF, L01F, L01, L."""
    return tuple(dict.fromkeys(code[:n] for n in (len(code), 5, 4, 3, 1) if n <= len(code)))


@dataclass(frozen=True)
class Code:
    """One code of a value-set member; `source` says where it was verified when that is not codes.csv."""

    system: str
    code: str
    source: str | None = None


@dataclass(frozen=True)
class Member:
    """One member of a value set: an ingredient, a condition, a gene, a route..."""

    name: str
    codes: tuple[Code, ...] = ()
    synonyms: tuple[str, ...] = ()
    match_name: bool = True
    unverified: str | None = None
    attributes: Mapping[str, str | float] = field(default_factory=dict)

    def names(self) -> tuple[str, ...]:
        """Every name this member may be recognised by in free text."""
        return (self.name, *self.synonyms) if self.match_name else ()


@dataclass(frozen=True)
class ValueSet:
    """A named class of concepts, e.g. 'pgp-inhibitor'."""

    id: str
    title: str
    applies_to: tuple[str, ...]
    members: tuple[Member, ...]
    source: str = ""
    exposure_after_last_dose_days: int = 0
    """How long a finished course still counts as exposure after its last dose (see facts.exposure)."""
    definition: str = ""
    """One line: what every member of the class is (the source list the members come from is `source`)."""


@dataclass(frozen=True)
class ClassMatch:
    """A concept classified into a value set: which member, and whether by code or by name."""

    value_set: str
    member: Member
    matched_by: MatchedBy
    code: str | None = None
    class_level: bool = False


@dataclass(frozen=True)
class Concept:
    """What a classifier looks at: codings as (system URI, code, display) and free text."""

    codings: tuple[tuple[str | None, str | None, str | None], ...] = ()
    text: str | None = None

    def display_texts(self) -> list[str]:
        """The text and every coding display, in that order, without blanks or repeats."""
        out: list[str] = []
        for value in (self.text, *(display for _, _, display in self.codings)):
            if value and value not in out:
                out.append(value)
        return out

    def label(self) -> str:
        """A human-readable name for the concept (text, else first display, else first code)."""
        texts = self.display_texts()
        if texts:
            return texts[0]
        for system, code, _ in self.codings:
            if code:
                return f"{system_short_name(system) or system} {code}"
        return "unnamed concept"


class Terminology:
    """Classifies concepts into value sets. Build it once; lookups are pure and thread-safe."""

    def __init__(self, value_sets: Iterable[ValueSet]) -> None:
        self.value_sets: dict[str, ValueSet] = {}
        self._by_code: dict[tuple[str, str], list[tuple[ValueSet, Member]]] = {}
        self._by_name: dict[str, NameIndex[tuple[ValueSet, Member]]] = {}
        for value_set in value_sets:
            self.value_sets[value_set.id] = value_set
            for member in value_set.members:
                for code in member.codes:
                    key = (code.system, normalise_code(code.system, code.code))
                    self._by_code.setdefault(key, []).append((value_set, member))
                for kind in value_set.applies_to:
                    names = self._by_name.setdefault(kind, NameIndex())
                    for name in member.names():
                        names.add(name, (value_set, member))
        kinds = {kind for value_set in self.value_sets.values() for kind in value_set.applies_to}
        self._code_tokens = {kind: self._tokens_for(kind) for kind in kinds}
        self._code_patterns = {
            kind: re.compile(b"|".join(re.escape(token) for token in sorted(tokens)) or b"(?!)")
            for kind, tokens in self._code_tokens.items()
            if tokens is not None
        }
        self._unclassified: dict[str, set[bytes]] = {kind: set() for kind in kinds}
        self._classified: dict[tuple[Concept, str], tuple[ClassMatch, ...]] = {}

    UNCLASSIFIED_CAPACITY = 100_000
    """Most raw codes remembered per kind as classifying to nothing (about 20 MB at most)."""

    def known_unclassified(self, applies_to: str, code_key: bytes) -> bool:
        """True when this raw `code` JSON was seen before and classified to no value set."""
        seen = self._unclassified.get(applies_to)
        return seen is not None and code_key in seen

    def unclassified_keys(self, applies_to: str) -> Collection[bytes]:
        """The raw `code` JSON remembered as classifying to nothing for this kind: the live set, which
        `remember_unclassified` keeps adding to (empty and fixed for a kind no value set classifies)."""
        return self._unclassified.get(applies_to, frozenset())

    def remember_unclassified(self, applies_to: str, code_key: bytes) -> None:
        """Remember that this raw `code` JSON classifies to nothing. A record repeats its codes (the
        same procedure on every visit), and a population repeats them again, so most coded resources
        are then dismissed by one set lookup. Only the negative answer is kept: it depends on the code
        alone, while a positive one is still checked against its resource's context."""
        seen = self._unclassified.get(applies_to)
        if seen is None:
            return
        if len(seen) >= self.UNCLASSIFIED_CAPACITY:
            seen.clear()
        seen.add(code_key)

    def classify(self, concept: Concept, applies_to: str) -> list[ClassMatch]:
        """Every value set of kind `applies_to` the concept belongs to, codes before names.

        A member found by code is not reported again by name. Results are in a stable order.
        The answer depends on the concept alone, so it is remembered: records and populations repeat
        the same drugs, conditions and observations.
        """
        key = (concept, applies_to)
        cached = self._classified.get(key)
        if cached is None:
            if len(self._classified) >= self.CLASSIFIED_CAPACITY:
                self._classified.clear()
            cached = self._classified[key] = tuple(self._classify(concept, applies_to))
        return list(cached)

    CLASSIFIED_CAPACITY = 100_000
    """Most concepts whose classification is remembered."""

    def _classify(self, concept: Concept, applies_to: str) -> list[ClassMatch]:
        found: dict[tuple[str, str], ClassMatch] = {}
        for system, code, _ in concept.codings:
            short = system_short_name(system)
            if short is None or not code:
                continue
            canonical = normalise_code(short, code)
            ancestors = (
                _atc_ancestors(canonical)
                if short == "atc"
                else _icd10cm_ancestors(canonical)
                if short == "icd10cm"
                else (canonical,)
            )
            for key in ancestors:
                for value_set, member in self._by_code.get((short, key), ()):
                    if applies_to in value_set.applies_to:
                        match = ClassMatch(value_set.id, member, "code", f"{short} {code}", key != canonical)
                        previous = found.get((value_set.id, member.name))
                        if previous is None or (previous.class_level and not match.class_level):
                            found[(value_set.id, member.name)] = match
        names = self._by_name.get(applies_to)
        if names:
            for text in concept.display_texts():
                for hit in names.find(text):
                    for value_set, member in names.values_of(hit):
                        found.setdefault(
                            (value_set.id, member.name), ClassMatch(value_set.id, member, "name")
                        )
        if any(m.class_level for m in found.values()):
            specific = {m.value_set for m in found.values() if not m.class_level}
            found = {k: m for k, m in found.items() if not (m.class_level and m.value_set in specific)}
        return sorted(found.values(), key=lambda m: (m.value_set, m.member.name))

    def classifies(self, applies_to: str) -> bool:
        """True when at least one value set classifies concepts of this kind."""
        return applies_to in self._code_tokens

    def code_tokens(self, applies_to: str) -> frozenset[bytes] | None:
        """The JSON string literals (b'"69548-6"') of every code of this kind, when the kind is
        classified by code only; None when some member may also match by name.

        A resource whose raw JSON contains none of these literals cannot classify, so a caller can
        skip it without decoding it. Computed once, when the terminology is built.
        """
        return self._code_tokens.get(applies_to, frozenset())

    def code_pattern(self, applies_to: str) -> re.Pattern[bytes] | None:
        """`code_tokens` as one compiled pattern (one scan of the raw bytes instead of one per token);
        None when the kind also matches by name. A pattern that never matches for an unknown kind."""
        if applies_to not in self._code_tokens:
            return re.compile(b"(?!)")
        return self._code_patterns.get(applies_to)

    def _tokens_for(self, applies_to: str) -> frozenset[bytes] | None:
        tokens: set[bytes] = set()
        for value_set in self.value_sets.values():
            if applies_to not in value_set.applies_to:
                continue
            for member in value_set.members:
                if member.names():
                    return None
                for code in member.codes:
                    if code.system == "icd10cm":
                        # Matched by hierarchy and sent with or without the dot: screen by prefix.
                        tokens.update({f'"{code.code}'.encode(), f'"{code.code.replace(".", "")}'.encode()})
                    else:
                        tokens.add(f'"{code.code}"'.encode())
        return frozenset(tokens)

    def any_match(self, concept: Concept, applies_to: str) -> bool:
        """True when `classify` would find at least one value set."""
        return bool(self.classify(concept, applies_to))
