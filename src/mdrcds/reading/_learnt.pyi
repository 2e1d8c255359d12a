"""Stub of the C++ extension mdrcds.reading._learnt (src/mdrcds/reading/_learnt.cpp)."""

from typing import Any

from mdrcds.reading.fhir import KnownIrrelevant

def known_irrelevant(
    node: Any, rule: KnownIrrelevant, own_reference: str | None, drafts: set[str], resource_type: str, /
) -> bool | None:
    """`mdrcds.reading.fhir._known_irrelevant` over simdjson's document; None where the Python check
    must answer (a node or rule of another shape, an element that is neither an object nor an array)."""

def resourceless(entries: Any, /) -> bytes | None:
    """None when every object in a Bundle's `entry` array (a simdjson Array) has a `resource`, or when
    `entries` is not a simdjson Array; else one byte per entry, 1 where an object entry has none."""

def lacks(node: Any, name: str, /) -> bool | None:
    """Whether a simdjson Object has no member `name` (found without pysimdjson's KeyError); None
    when `node` is not a simdjson Object."""
