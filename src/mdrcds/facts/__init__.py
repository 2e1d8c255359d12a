"""Stage 2, facts: flat, typed clinical statements made from FHIR resources, with provenance.

Takes in an `FhirInput` (the reading stage) and the rulebook's `Terminology`; classifies resources into
value sets and hands on a `FactSet` (plus derived aggregates) to the reasoning stage. Pure.

A small package by clinical concept: `model` (the Fact), `exposure` (when a medication record counts),
`dose` (daily doses), `conditions` (status and context of a diagnosis), `genomics` (variants and their
annotations), `derived` (aggregates over one patient's facts) and `builder` (the walk over a record).
"""

from mdrcds.facts.builder import extract_facts
from mdrcds.facts.fhirjson import parse_date
from mdrcds.facts.model import ENGINE_FIELDS, NOTE_ATTRIBUTES, Fact, FactSet, Scalar

__all__ = ["ENGINE_FIELDS", "NOTE_ATTRIBUTES", "Fact", "FactSet", "Scalar", "extract_facts", "parse_date"]
