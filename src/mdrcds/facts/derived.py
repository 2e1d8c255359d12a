"""Aggregates over one patient's facts, made after extraction (pure).

- variant annotations: significance and loss of function, from the variant itself and from the
  annotation Observations whose `derivedFrom` points at it (by 'Type/id', Bundle fullUrl or absolute URL),
  judged by the gene's loss policy (`loss_of_function`);
- first exposure in each medication class (`first_in_class`), and whether it is a treatment start
  (`treatment_start`: the class's first exposure, from 7 days before the evaluation time onwards);
- steroid courses given as administrations: consecutive days of one drug are one course, and a course
  of 3 days or less is premedication;
- whether an autoimmune condition was pre-existing: onset before the first checkpoint-inhibitor dose
  ('yes'), on or after it ('no', e.g. an ICI-induced type 1 diabetes) or not known ('unknown');
- for each disease-status Observation whose result is `worsened`: whether it came after the first
  checkpoint-inhibitor dose, whether the pattern is acquired (an earlier `improved` status on that
  therapy) or primary, and how many distinct P-gp-substrate anticancer drugs were started before it.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

from mdrcds.facts.genomics import Annotation
from mdrcds.facts.model import Fact, Scalar

CHECKPOINT_INHIBITOR = "checkpoint-inhibitor"
PGP_SUBSTRATE = "pgp-substrate-chemotherapy"
DISEASE_STATUS = "cancer-disease-status"
GENOMIC_VARIANT = "genomic-variant"
AUTOIMMUNE = "autoimmune-disease"
PATHOGENIC = frozenset({"pathogenic", "likely pathogenic"})
"""The clinical-significance member names a 'pathogenic-is-loss' gene presumes a loss from."""
TREATMENT_START_DAYS = 7
PREMEDICATION_MAX_DAYS = 3

VOID_EXPOSURE = frozenset({"cancelled", "entered-in-error", "not-taken", "do-not-perform", "revoked"})
_ABSOLUTE_REFERENCE = re.compile(r"([A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64})(/_history/[^/]+)?$")


def canonical_reference(reference: str, aliases: dict[str, str]) -> str:
    """'Type/id' for a reference given as 'Type/id', a Bundle fullUrl (urn:uuid:...) or an absolute URL."""
    if reference in aliases:
        return aliases[reference]
    match = _ABSOLUTE_REFERENCE.search(reference)
    return match.group(1) if match else reference


def with_variant_annotations(
    facts: list[Fact],
    own: dict[str, Annotation],
    implied: list[tuple[list[str], Annotation]],
    aliases: dict[str, str],
) -> list[Fact]:
    """Give variant facts their significance and loss-of-function status (see the module docstring).

    `own` holds what each variant Observation states itself (by fact source); `implied` what annotation
    Observations state about the variants they reference. A significance on the variant itself wins.
    """
    by_variant: dict[str, Annotation] = {}
    for references, note in implied:
        for reference in references:
            by_variant.setdefault(canonical_reference(reference, aliases), Annotation()).merge(note)
    annotated = []
    for fact in facts:
        if fact.value_set == GENOMIC_VARIANT:
            note = Annotation()
            note.merge(own.get(fact.source, Annotation()))
            note.merge(by_variant.get(fact.source, Annotation()))
            attributes = dict(fact.attributes)
            if note.significance:
                attributes["significance"] = note.significance
            attributes["loss_of_function"] = loss_of_function(note, attributes)
            fact = fact.with_attributes(attributes)
        annotated.append(fact)
    return annotated


def loss_of_function(note: Annotation, variant: dict[str, Scalar]) -> str:
    """'yes', 'presumed', 'gain', 'no' or 'unknown' for a variant, by its gene's loss policy
    (rules/valuesets/gene.yaml): what its consequences say ('yes', 'gain', 'no', 'unknown'), except that
    for a gene whose policy is 'pathogenic-is-loss' a pathogenic or likely pathogenic variant with no
    gain stated is 'presumed' a loss when no consequence already says 'yes'."""
    stated = note.loss_of_function()
    if (
        stated not in ("yes", "gain")
        and variant.get("loss_policy") == "pathogenic-is-loss"
        and variant.get("significance") in PATHOGENIC
    ):
        return "presumed"
    return stated


def with_first_in_class(facts: list[Fact], now: date) -> list[Fact]:
    """Mark each medication fact that is the patient's first exposure to its class (earliest start),
    and whether that first exposure is a treatment start (now or upcoming).

    Void records (cancelled, entered-in-error, not-taken, do-not-perform) are not exposures. An order
    with no date is first only when the class has no dated exposure at all.
    """
    earliest: dict[str, date | None] = {}
    for fact in facts:
        if fact.kind != "medication" or fact.status in VOID_EXPOSURE:
            continue
        known = earliest.get(fact.value_set)
        if fact.value_set not in earliest or (fact.start and (known is None or fact.start < known)):
            earliest[fact.value_set] = fact.start
    recent = now - timedelta(days=TREATMENT_START_DAYS)
    marked = []
    for fact in facts:
        if fact.kind == "medication":
            first = fact.status not in VOID_EXPOSURE and fact.start == earliest.get(fact.value_set)
            starting = first and (fact.start is None or fact.start >= recent)
            fact = fact.with_attributes(
                {**fact.attributes, "first_in_class": first, "treatment_start": starting}
            )
        marked.append(fact)
    return marked


def with_steroid_courses(facts: list[Fact]) -> list[Fact]:
    """Administrations of one steroid on consecutive days (gaps of up to 2 days) form one course; a
    course of 3 days or less is premedication (unless a reason already says so either way)."""
    given: dict[str, list[date]] = {}
    for fact in facts:
        if _is_steroid_administration(fact) and fact.start is not None:
            given.setdefault(fact.member, []).append(fact.start)
    spans: dict[tuple[str, date], int] = {}
    for member, days in given.items():
        ordered = sorted(set(days))
        course = [ordered[0]]
        for day in [*ordered[1:], None]:
            if day is not None and (day - course[-1]).days <= 2:
                course.append(day)
                continue
            length = (course[-1] - course[0]).days + 1
            spans.update({(member, d): length for d in course})
            if day is not None:
                course = [day]
    out = []
    for fact in facts:
        if _is_steroid_administration(fact) and fact.start is not None:
            short = spans[(fact.member, fact.start)] <= PREMEDICATION_MAX_DAYS
            by_reason = bool(fact.attributes.get("premedication_by_reason"))
            fact = fact.with_attributes({**fact.attributes, "premedication": by_reason or short})
        out.append(fact)
    return out


def _is_steroid_administration(fact: Fact) -> bool:
    return (
        fact.kind == "medication"
        and fact.source.startswith("MedicationAdministration/")
        and "pred_eq_band" in fact.attributes
        and fact.status not in VOID_EXPOSURE
    )


def with_autoimmune_onset(facts: list[Fact], now: date) -> list[Fact]:
    """Whether each autoimmune condition began before the first checkpoint-inhibitor dose."""
    first_ici = _first_checkpoint_inhibitor(facts) or now
    out = []
    for fact in facts:
        if fact.value_set == AUTOIMMUNE and fact.kind == "condition":
            onset_known = bool(fact.attributes.get("onset_known"))
            recorded = fact.attributes.get("recorded")
            recorded_day = date.fromisoformat(recorded) if isinstance(recorded, str) else None
            if fact.attributes.get("treatment_induced"):
                preexisting, note = "no", "recorded as caused by treatment (an immune-related adverse event)"
            elif onset_known and fact.start is not None:
                preexisting = "yes" if fact.start < first_ici else "no"
                note = (
                    f"onset {fact.start.isoformat()}, before the first checkpoint-inhibitor dose"
                    if preexisting == "yes"
                    else f"onset {fact.start.isoformat()}, on or after the first checkpoint-inhibitor dose"
                )
            elif recorded_day is not None and recorded_day < first_ici:
                preexisting, note = "yes", f"recorded {recorded_day.isoformat()}, before the first dose"
            else:
                preexisting = "unknown"
                note = "onset date not recorded: assumed pre-existing, please confirm"
            fact = fact.with_attributes({**fact.attributes, "preexisting": preexisting, "onset_note": note})
        out.append(fact)
    return out


def _first_checkpoint_inhibitor(facts: list[Fact]) -> date | None:
    starts = [
        f.start
        for f in facts
        if f.kind == "medication"
        and f.value_set == CHECKPOINT_INHIBITOR
        and f.status not in VOID_EXPOSURE
        and f.start is not None
    ]
    return min(starts) if starts else None


def with_progression_context(facts: list[Fact]) -> list[Fact]:
    """Annotate worsened disease-status facts with what came before them (see the module docstring)."""
    exposures = [f for f in facts if f.kind == "medication" and f.status not in VOID_EXPOSURE and f.start]
    first_ici = _first_checkpoint_inhibitor(facts)
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
            fact = fact.with_attributes(
                {
                    **fact.attributes,
                    "after_first_checkpoint_inhibitor": after,
                    "resistance_pattern": "acquired" if acquired else "primary",
                    "prior_pgp_substrates": len(substrates),
                    "prior_pgp_substrate_names": ", ".join(substrates) or "none",
                }
            )
        annotated.append(fact)
    return annotated


def derive(
    facts: list[Fact],
    own: dict[str, Annotation],
    implied: list[tuple[list[str], Annotation]],
    aliases: dict[str, str],
    now: date,
) -> list[Fact]:
    """Every aggregate above, in dependency order."""
    facts = with_variant_annotations(facts, own, implied, aliases)
    facts = with_steroid_courses(with_first_in_class(facts, now))
    return with_progression_context(with_autoimmune_onset(facts, now))
