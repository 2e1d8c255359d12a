"""The clinical context of a diagnosis named in free text, by the ConText algorithm.

ConText (Harkema H, Dowling JN, Thornblade T, Chapman WW. J Biomed Inform 2009;42(5):839-851,
doi:10.1016/j.jbi.2009.05.002) decides, within one sentence, whether a condition named in text is
negated, possible, hypothetical, historical or about someone else, from trigger terms and the direction
in which each one reaches. mdrcds uses medspaCy's implementation (`medspacy.context`) with its default
English rules, extended by the project rules below (each says why), and asks it about one target: the
value-set member's name where it stands in the text.

Only a diagnosis that was recognised by its *name* is read this way. A coded diagnosis is never voided
by words in its free text: codes outrank text (verificationStatus, clinicalStatus and category still
apply; `mdrcds.facts.conditions`).

A name counts as the patient's when no modifier of these categories reaches it: NEGATED_EXISTENCE,
POSSIBLE_EXISTENCE, HYPOTHETICAL (planned, awaiting, candidate), FAMILY, and the project's DONOR (the
organ *donor*, told from the recipient by the head noun: "kidney transplant donor" and "kidney donor"
are donors; "living donor kidney transplant" and "deceased donor renal transplant" are recipients).
HISTORICAL does not void: a transplant or an autoimmune disease "history of" is still the patient's.
"""

from __future__ import annotations

import re
import threading
import unicodedata
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mdrcds.knowledge.names import QUALIFIERS, normalise_name

VOIDING = frozenset({"NEGATED_EXISTENCE", "POSSIBLE_EXISTENCE", "HYPOTHETICAL", "FAMILY", "DONOR"})
"""Modifier categories that make a named diagnosis not the patient's established condition."""


@dataclass(frozen=True)
class ProjectRule:
    """A ConText rule the defaults lack: the trigger, its category, the direction it reaches, and why."""

    literal: str
    category: str
    direction: str
    why: str
    pattern: tuple[dict[str, Any], ...] | None = None


_RELATIVES = (
    *("mother", "father", "parent", "parents", "sister", "brother", "sibling", "siblings", "son"),
    *("daughter", "aunt", "uncle", "cousin", "grandmother", "grandfather", "family", "relative", "relatives"),
)
_WAITING = "transplant and referral workflow: the procedure has not happened (ConText's hypothetical)"
PROJECT_RULES: tuple[ProjectRule, ...] = (
    *(
        ProjectRule(literal, "HYPOTHETICAL", "FORWARD", _WAITING)
        for literal in (
            "awaiting",
            "waiting for",
            "waiting list for",
            "wait list for",
            "waitlisted for",
            "candidate for",
            "evaluation for",
            "referral for",
            "referred for",
            "assessment for",
            "screening for",
            "planned",
            "scheduled for",
            "at risk for",
            "at risk of",
            "risk of",
        )
    ),
    *(
        ProjectRule(literal, "HYPOTHETICAL", "BACKWARD", _WAITING + ", trigger after the name")
        for literal in (
            "candidate",
            "waiting list",
            "wait list",
            "work up",
            "workup",
            "evaluation",
            "planned",
        )
    ),
    *(
        ProjectRule(literal, "NEGATED_EXISTENCE", "BACKWARD", "negation stated after the name")
        for literal in ("excluded", "not confirmed", "not present")
    ),
    ProjectRule("unlikely", "POSSIBLE_EXISTENCE", "BACKWARD", "doubt stated after the name"),
    ProjectRule("suspected", "POSSIBLE_EXISTENCE", "BIDIRECTIONAL", "suspected, not established"),
    ProjectRule("query", "POSSIBLE_EXISTENCE", "FORWARD", "a question, not a diagnosis"),
    ProjectRule("?", "POSSIBLE_EXISTENCE", "FORWARD", "'? RA': a question, not a diagnosis"),
    *(
        ProjectRule(literal, "FAMILY", "FORWARD", "family history abbreviations")
        for literal in ("fh", "fhx", "fh of", "family hx", "family history")
    ),
    ProjectRule(
        "gluten free",
        "PSEUDO",
        "PSEUDO",
        "'gluten-free diet' is coeliac disease's treatment: the default 'free' would negate the disease",
        ({"LOWER": "gluten"}, {"TEXT": "-", "OP": "?"}, {"LOWER": "free"}),
    ),
    ProjectRule(
        "in relative",
        "FAMILY",
        "BACKWARD",
        "'RA in mother': the default family rule reaches forward only",
        ({"LOWER": "in"}, {"LOWER": {"IN": list(_RELATIVES)}}),
    ),
    *(
        ProjectRule(literal, "DONOR", "BACKWARD", "head noun 'donor' after the organ: the patient gave it")
        for literal in ("donor", "donation", "donated")
    ),
    *(
        ProjectRule(literal, "DONOR", "FORWARD", "the patient is the donor for the named procedure")
        for literal in ("donor for", "donation for", "donated for", "living donor evaluation for")
    ),
)

DIRECTION_CHANGES = {
    "ruled out": ("BIDIRECTIONAL", "the default reaches forward only ('ruled out for X'); 'X ruled out' too"),
}
"""Default rules whose direction the project changes, with why."""

_POSSESSIVE = re.compile(r"(?<=\w)['\u2019\u02bc]s\b")
_CACHE_CAPACITY = 50_000


def _folded(text: str) -> str:
    """Diacritics and possessives dropped, so that text and names read alike; case and punctuation
    kept, as ConText needs them."""
    decomposed = unicodedata.normalize("NFKD", _POSSESSIVE.sub("", text))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _name_pattern(name: str) -> re.Pattern[str]:
    tokens = normalise_name(name).split()
    qualifier = (
        r"(?:(?:" + "|".join(re.escape(q) for q in sorted(QUALIFIERS, key=len, reverse=True)) + r")\W+)*"
    )
    between = r"[\W_]+" + qualifier
    return re.compile(r"(?<![0-9A-Za-z])" + between.join(map(re.escape, tokens)) + r"(?![0-9A-Za-z])", re.I)


class _Reader:
    """The medspaCy pipeline, built on first use (importing spaCy takes about a second)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._nlp: Any = None
        self._cache: dict[tuple[str, str], str | None] = {}

    def pipeline(self) -> Any:
        with self._lock:
            if self._nlp is None:
                with warnings.catch_warnings():
                    # spaCy's command-line module imports a deprecated click helper at import time.
                    warnings.simplefilter("ignore", DeprecationWarning)
                    import medspacy
                    from loguru import logger
                    from medspacy.context import ConTextRule

                logger.disable("PyRuSH")  # its sentence splitter logs every token at DEBUG
                nlp = medspacy.load(medspacy_enable=["medspacy_pyrush"])
                context = nlp.add_pipe("medspacy_context", config={"rules": None})
                defaults = ConTextRule.from_json(context.DEFAULT_RULES_FILEPATH)
                for rule in defaults:
                    if rule.literal in DIRECTION_CHANGES:
                        rule.direction = DIRECTION_CHANGES[rule.literal][0]
                context.add(defaults)
                context.add(
                    [
                        ConTextRule(
                            r.literal,
                            r.category,
                            pattern=list(r.pattern) if r.pattern else None,
                            direction=r.direction,
                        )
                        for r in PROJECT_RULES
                    ]
                )
                self._nlp = nlp
            return self._nlp

    def voiding_category(self, text: str, name: str) -> str | None:
        key = (text, name)
        if key in self._cache:
            return self._cache[key]
        answer = self._read(text, name)
        if len(self._cache) >= _CACHE_CAPACITY:
            self._cache.clear()
        self._cache[key] = answer
        return answer

    def _read(self, text: str, name: str) -> str | None:
        folded = _folded(text)
        found = _name_pattern(name).search(folded)
        if found is None:
            return None
        nlp = self.pipeline()
        doc = nlp.make_doc(folded)
        target = doc.char_span(found.start(), found.end(), label="TARGET", alignment_mode="expand")
        if target is None:
            return None
        doc.ents = [target]
        for _, component in nlp.pipeline:
            doc = component(doc)
        for entity in doc.ents:
            for modifier in entity._.modifiers:
                start, end = modifier.modifier_span
                inside = entity.start <= start and end <= entity.end  # a word of the name itself
                if modifier.category in VOIDING and not inside:
                    return str(modifier.category)
        return None


_READER = _Reader()


def voiding_context(texts: Sequence[str], names: Sequence[str]) -> str | None:
    """The ConText category (see VOIDING) that makes a named diagnosis not the patient's, read in each
    text where one of `names` stands; None when every such text states it as the patient's."""
    for text in texts:
        for name in names:
            category = _READER.voiding_category(text, name)
            if category is not None:
                return category
    return None
