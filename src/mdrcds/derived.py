"""Aggregates over one patient's facts, made after extraction (pure).

- first exposure in each medication class (`first_in_class`);
- clinical significance carried from diagnostic-implication Observations to their variants;
- for each disease-status Observation whose result is `worsened`: whether it came after the first
  checkpoint-inhibitor dose, whether the pattern is acquired (an earlier `improved` status on that
  therapy) or primary, and how many distinct P-gp-substrate anticancer drugs were started before it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mdrcds.facts import Fact

CHECKPOINT_INHIBITOR = "checkpoint-inhibitor"
PGP_SUBSTRATE = "pgp-substrate-chemotherapy"
DISEASE_STATUS = "cancer-disease-status"

_VOID_EXPOSURE = frozenset({"cancelled", "entered-in-error", "not-taken"})


def with_implied_significance(facts: list[Fact], implications: list[tuple[list[str], str]]) -> list[Fact]:
    """Give variant facts the clinical significance of the implication Observations derived from them.

    Genomics Reporting STU3 and mCODE STU4 put significance (LOINC 53037-8) on a separate
    diagnostic-implication Observation whose derivedFrom points at the variant; older reports put it
    on the variant itself, which `_observation_values` already reads and which is kept as it is.
    """
    implied: dict[str, str] = {}
    for references, significance in implications:
        for reference in references:
            implied.setdefault(reference, significance)
    return [
        replace(fact, attributes={**fact.attributes, "significance": implied[fact.source]})
        if fact.kind == "observation" and fact.source in implied and "significance" not in fact.attributes
        else fact
        for fact in facts
    ]


def with_first_in_class(facts: list[Fact]) -> list[Fact]:
    """Mark each medication fact that is the patient's first exposure to its class (earliest start).

    Cancelled, entered-in-error and not-taken records are not exposures. An order with no date is
    first only when the class has no dated exposure at all.
    """
    earliest: dict[str, date | None] = {}
    for fact in facts:
        if fact.kind != "medication" or fact.status in _VOID_EXPOSURE:
            continue
        known = earliest.get(fact.value_set)
        if fact.value_set not in earliest or (fact.start and (known is None or fact.start < known)):
            earliest[fact.value_set] = fact.start
    marked = []
    for fact in facts:
        if fact.kind == "medication":
            first = fact.status not in _VOID_EXPOSURE and fact.start == earliest.get(fact.value_set)
            fact = replace(fact, attributes={**fact.attributes, "first_in_class": first})
        marked.append(fact)
    return marked


def with_progression_context(facts: list[Fact]) -> list[Fact]:
    """Annotate worsened disease-status facts with what came before them (see the module docstring)."""
    exposures = [f for f in facts if f.kind == "medication" and f.status not in _VOID_EXPOSURE and f.start]
    ici_starts = [f.start for f in exposures if f.value_set == CHECKPOINT_INHIBITOR and f.start]
    first_ici = min(ici_starts) if ici_starts else None
    improved = [
        f.start
        for f in facts
        if f.value_set == DISEASE_STATUS and f.attributes.get("result") == "improved" and f.start
    ]
    annotated = []
    for fact in facts:
        if fact.value_set == DISEASE_STATUS and fact.attributes.get("result") == "worsened" and fact.start:
            when: date = fact.start
            after = first_ici is not None and first_ici <= when
            acquired = after and any(first_ici is not None and first_ici <= day < when for day in improved)
            substrates = sorted(
                {f.member for f in exposures if f.value_set == PGP_SUBSTRATE and f.start and f.start < when}
            )
            fact = replace(
                fact,
                attributes={
                    **fact.attributes,
                    "after_first_checkpoint_inhibitor": after,
                    "resistance_pattern": "acquired" if acquired else "primary",
                    "prior_pgp_substrates": len(substrates),
                    "prior_pgp_substrate_names": ", ".join(substrates) or "none",
                },
            )
        annotated.append(fact)
    return annotated


def derive(facts: list[Fact], implications: list[tuple[list[str], str]]) -> list[Fact]:
    """Every aggregate above, in dependency order."""
    return with_progression_context(with_first_in_class(with_implied_significance(facts, implications)))
