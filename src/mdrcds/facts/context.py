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

import functools
import importlib.util
import re
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from mdrcds.knowledge.names import fold, normalise_name, skippable

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

_CACHE_CAPACITY = 50_000
_WORD = re.compile(r"[0-9A-Za-z]+")
_TOKENS = re.compile(r"[0-9a-z]+|[^\s0-9a-z]")


def _find_name(text: str, name: str) -> tuple[int, int] | None:
    """Where `name` stands in `text` (character offsets), its words in order with only qualifier words
    between them (as `mdrcds.knowledge.names` matches), or None."""
    wanted = normalise_name(name).split()
    if not wanted:
        return None
    words = [(m.group().lower(), m.start(), m.end()) for m in _WORD.finditer(text)]
    for first, (word, start, _) in enumerate(words):
        if word != wanted[0]:
            continue
        position, index = first + 1, 1
        while index < len(wanted) and position < len(words):
            if words[position][0] == wanted[index]:
                index += 1
            elif not skippable(words[position][0], {wanted[index]}):
                break
            position += 1
        if index == len(wanted):
            return start, words[position - 1][2]
    return None


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
                    from medspacy.context import ConTextRule

                # medspaCy's clinical tokenizer; sentences split at . ! ; (not at '?', a ConText trigger
                # in '? RA'), which fits the short texts read here (a diagnosis' text or display) at an
                # eighth of PyRuSH's cost.
                nlp = medspacy.load(medspacy_enable=["medspacy_tokenizer"])
                nlp.add_pipe("sentencizer", config={"punct_chars": [".", "!", ";"]})
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
        # No trigger word of any rule in the text: ConText cannot modify anything, so spaCy is not run
        # (nor imported): the common case of "Rheumatoid arthritis" or "Kidney transplant recipient".
        # Diacritics and possessives dropped so that text and names read alike; case and punctuation
        # kept, as ConText needs them.
        folded = fold(text)
        words = set(_TOKENS.findall(folded.lower()))
        answer = None if _trigger_words().isdisjoint(words) else self._read(folded, name)
        if len(self._cache) >= _CACHE_CAPACITY:
            self._cache.clear()
        self._cache[key] = answer
        return answer

    def _read(self, folded: str, name: str) -> str | None:
        found = _find_name(folded, name)
        if found is None:
            return None
        nlp = self.pipeline()
        doc = nlp.make_doc(folded)
        target = doc.char_span(found[0], found[1], label="TARGET", alignment_mode="expand")
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


@functools.cache
def _trigger_words() -> frozenset[str]:
    """Every word (and punctuation mark) of every rule's trigger: a text holding none of them cannot
    be modified by any rule. Read from medspaCy's default rule file without importing spaCy."""
    spec = importlib.util.find_spec("medspacy")
    origin = Path(spec.origin) if spec is not None and spec.origin else None
    if origin is None:
        raise RuntimeError("medspaCy is not installed")
    rules = orjson.loads((origin.parent.parent / "resources" / "en" / "context_rules.json").read_bytes())
    values: list[str] = []
    for rule in rules["context_rules"]:
        values.append(rule["literal"])
        values += _pattern_values(rule.get("pattern"))
    for project in PROJECT_RULES:
        values.append(project.literal)
        values += _pattern_values(list(project.pattern or []))
    return frozenset(token for value in values for token in _TOKENS.findall(value.lower()))


def _pattern_values(pattern: Any) -> list[str]:
    out: list[str] = []
    for token in pattern or []:
        for test in token.values() if isinstance(token, dict) else []:
            if isinstance(test, str):
                out.append(test)
            elif isinstance(test, dict):
                found = test.get("IN", [])
                out += [v for v in found if isinstance(v, str)]
    return out


_READER = _Reader()


def preload() -> None:
    """Build the medspaCy pipeline now (about 1.5 s and 150 MB, once per process), so that the first
    record with a diagnosis named only in text does not pay for it: called by the service's warm-up.
    Batch workers and the command line build it only when a text needs it."""
    _READER.pipeline()


def voiding_context(texts: Sequence[str], names: Sequence[str]) -> str | None:
    """The ConText category (see VOIDING) that makes a named diagnosis not the patient's, read in each
    text where one of `names` stands; None when every such text states it as the patient's."""
    for text in texts:
        for name in names:
            category = _READER.voiding_category(text, name)
            if category is not None:
                return category
    return None
