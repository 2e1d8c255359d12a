"""Stub of the C++ extension mdrcds.reading._learnt (src/mdrcds/reading/_learnt.cpp)."""

from collections.abc import Collection, Mapping
from typing import Any

from mdrcds.reading.fhir import FirstLook, KnownIrrelevant

def known_irrelevant(
    node: Any, rule: KnownIrrelevant, own_reference: str | None, drafts: set[str], resource_type: str, /
) -> bool | None:
    """`mdrcds.reading.fhir._known_irrelevant` over simdjson's document; None where the Python check
    must answer (a node or rule of another shape, an element that is neither an object nor an array)."""

def screen_entries(
    entries: Any,
    known: Mapping[str, KnownIrrelevant],
    read_types: Collection[str],
    own_reference: str | None,
    drafts: set[str],
    /,
) -> FirstLook | None:
    """The reader's first look at every entry of a Bundle's `entry` array (a simdjson Array): one byte
    per entry, 1 where the reader's loop must look at it, 2 where it must but the learnt check has
    kept the resource already, 0 where it need not; the resource types skipped, counted; the
    number of resources the learnt check dismissed. None when `entries` is not a simdjson Array or
    `known` not a dict."""

def lacks(node: Any, name: str, /) -> bool | None:
    """Whether a simdjson Object has no member `name` (found without pysimdjson's KeyError); None
    when `node` is not a simdjson Object."""
