"""Finding value-set member names in free text, in time linear in the text's length.

Names and texts are normalised alike (`normalise_name`): diacritics dropped ("Sjögren" -> "sjogren"),
possessives dropped ("Hashimoto's" -> "hashimoto"), lower case, every run of other characters one space.
A text is then read token by token through a trie of the names' tokens (`NameIndex.find`): at each token
the longest name that starts there wins and the scan continues after it, the leftmost-longest reading a
clinician would make. The cost is the text's tokens times the longest name, whatever the number of
names, so a 10,000-member value set costs what a 10-member one does. Texts longer than
`MAX_TEXT_CHARACTERS` are read up to that length.

Between two tokens of a name, qualifier words may stand (`QUALIFIERS`): laterality, lobe and segment,
stage and grade. "Adenocarcinoma of right upper lobe of lung" therefore reads as "adenocarcinoma of
lung". The words come from the qualifier values that SNOMED CT attaches to findings (laterality
182353008 "side", 24028007 right, 7771000 left, 51440002 bilateral; lobes of lung), and from the AJCC
stage and grade notation (stage 0, I-IV with A/B/C substages, grade 1-4 / G1-G4). A qualifier is
skipped only *inside* a name, never before its first token, so it cannot create a match by itself.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")

MAX_TEXT_CHARACTERS = 4_096
"""The longest text read for names; the rest of a longer text is not read (docs/service.md)."""

NUMBERS = frozenset(
    {
        *("g1", "g2", "g3", "g4", "0", "1", "2", "3", "4"),
        *("i", "ii", "iii", "iv", "ia", "ib", "ic", "iia", "iib", "iiia", "iiib", "iiic", "iva", "ivb"),
        *("ia1", "ia2", "ia3", "1a", "1b", "2a", "2b", "3a", "3b", "3c", "4a", "4b"),
    }
)
"""Stage and grade numbers (AJCC notation). Skipped like any qualifier, except where the name itself
goes on with a number ("type 1 diabetes"): there another number is a different concept, not a
qualifier ("type 2 diabetes, stage 1 CKD" is no "type 1 diabetes")."""

QUALIFIERS = frozenset(
    {
        # laterality and position
        *("right", "left", "bilateral", "both", "unilateral", "side", "rt", "lt"),
        *("upper", "middle", "lower", "lobe", "lobes", "lingula", "lingular", "segment", "apical"),
        *("superior", "inferior", "anterior", "posterior", "basal", "hilar", "central", "peripheral"),
        # stage and grade
        *("stage", "grade"),
        *NUMBERS,
        # the words that join them
        *("of", "the", "in"),
    }
)


def skippable(token: str, next_tokens: Iterable[str]) -> bool:
    """Whether `token` may stand between two words of a name whose next word is one of `next_tokens`."""
    return token in QUALIFIERS and not (token in NUMBERS and not NUMBERS.isdisjoint(next_tokens))


_POSSESSIVE = re.compile(r"(?<=\w)['\u2019\u02bc]s\b")
_NON_WORD = re.compile(r"[^0-9a-z]+")


def fold(text: str) -> str:
    """`text` without diacritics or possessives ("Sjögren's" -> "Sjogren"); case and punctuation kept."""
    text = _POSSESSIVE.sub("", text)
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def normalise_name(text: str) -> str:
    """Lower-case text without diacritics or possessives, every run of other characters one space,
    padded with spaces (' sjogren syndrome ')."""
    return " " + _NON_WORD.sub(" ", fold(text[:MAX_TEXT_CHARACTERS]).lower()).strip() + " "


@dataclass
class _Node(Generic[T]):
    children: dict[str, _Node[T]] = field(default_factory=dict)
    name: str | None = None
    values: list[T] = field(default_factory=list)


class NameIndex(Generic[T]):
    """Normalised names, each with the values it stands for, found in text by `find`."""

    def __init__(self) -> None:
        self._root: _Node[T] = _Node()
        self.names: dict[str, list[T]] = {}

    def add(self, name: str, value: T) -> None:
        normalised = normalise_name(name).strip()
        if not normalised:
            return
        node = self._root
        for token in normalised.split(" "):
            node = node.children.setdefault(token, _Node())
        node.name = normalised
        node.values.append(value)
        self.names.setdefault(normalised, node.values)

    def __bool__(self) -> bool:
        return bool(self._root.children)

    def find(self, text: str) -> list[str]:
        """The names found in `text`, leftmost-longest, in order (see the module docstring)."""
        tokens = normalise_name(text).split()
        found: list[str] = []
        start = 0
        while start < len(tokens):
            end, name = self._longest_at(tokens, start)
            if name is None:
                start += 1
            else:
                found.append(name)
                start = end
        return found

    def _longest_at(self, tokens: list[str], start: int) -> tuple[int, str | None]:
        node = self._root.children.get(tokens[start])
        if node is None:
            return start, None
        best: tuple[int, str | None] = (start + 1, node.name)
        position = start + 1
        while position < len(tokens):
            token = tokens[position]
            child = node.children.get(token)
            if child is not None:
                node = child
                position += 1
                if node.name is not None:
                    best = (position, node.name)
            elif node.children and skippable(token, node.children.keys()):
                position += 1
            else:
                break
        return best

    def values_of(self, name: str) -> Iterable[T]:
        return self.names.get(name, ())
