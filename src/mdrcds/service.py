"""One evaluation, end to end: FHIR JSON in, CDS Hooks cards out. No HTTP, no database.

fhir (read) -> facts (classify, validate what can become a fact) -> engine (match)
-> findings (predicates, hook focus, grouping) -> cards
"""

from __future__ import annotations

import gc
import uuid
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

from mdrcds.cards.detectedissue import detected_issue
from mdrcds.cards.render import Card, build_card, rule_of
from mdrcds.errors import EvaluationLimitError
from mdrcds.facts import FactSet, extract_facts
from mdrcds.facts.context import preload as preload_context
from mdrcds.facts.screen import screen_for
from mdrcds.knowledge.rulebook import Rulebook
from mdrcds.reading.fhir import (
    FhirInput,
    FhirVersion,
    build_resource,
    preload_models,
    read_bytes,
    read_file,
    read_input,
    validator,
)
from mdrcds.reasoning.engine import Engine
from mdrcds.reasoning.findings import Finding, Focus, build_findings


@dataclass(frozen=True)
class Limits:
    """Per-evaluation limits; over any of them an evaluation raises EvaluationLimitError."""

    max_resources: int = 50_000
    max_facts: int = 5_000
    max_matches: int = 10_000


@dataclass(frozen=True)
class Evaluation:
    """The result of evaluating one patient's data for one hook."""

    source: str
    hook: str
    hook_instance: str | None
    patient_id: str | None
    cards: list[Card]
    findings: list[Finding]
    facts: FactSet
    rulebook_version: str
    skipped_resources: dict[str, int] = field(default_factory=dict)
    silent: list[Finding] = field(default_factory=list)
    """Findings of silent rules: evaluated and audited, never returned as cards."""
    withheld: str | None = None
    """Why no rule was evaluated at all (the patient is recorded as deceased), when that is so."""

    @property
    def silent_rule_ids(self) -> list[str]:
        """The silent rules that would have fired."""
        return [finding.rule.id for finding in self.silent]

    def response(self) -> dict[str, Any]:
        """The CDS Hooks response object: {"cards": [...]}."""
        return {"cards": self.cards}

    def detected_issues(self, rulebook: Rulebook, now: date) -> list[dict[str, Any]]:
        """Each card as a FHIR R4 DetectedIssue, validated with the FHIR models."""
        findings = {finding.rule.id: finding for finding in self.findings}
        return [
            build_resource(
                detected_issue(
                    card, findings[rule_of(card)], rulebook, patient_id=self.patient_id, identified=now
                )
            )
            for card in self.cards
        ]

    def with_detected_issue_suggestions(self, rulebook: Rulebook, now: date) -> Evaluation:
        """The evaluation with a 'record this finding' suggestion on each card that creates its
        DetectedIssue (the HL7 PDDI CDS IG's way to persist a finding), never recommended."""
        cards = []
        for card, issue in zip(self.cards, self.detected_issues(rulebook, now), strict=True):
            suggestion = {
                "label": "Record this finding in the chart (DetectedIssue)",
                "uuid": str(uuid.uuid5(uuid.UUID(card["uuid"]), "detected-issue")),
                "isRecommended": False,
                "actions": [
                    {
                        "type": "create",
                        "description": "Create a DetectedIssue for this finding",
                        "resource": issue,
                    }
                ],
            }
            card = {**card, "suggestions": [*card.get("suggestions", []), suggestion]}
            card.setdefault("selectionBehavior", "at-most-one")
            cards.append(card)
        return replace(self, cards=cards)


def warm_up(*, context: bool = True) -> None:
    """Pay a process's one-time costs before its first patient: the FHIR models of every resource type
    that can become a fact (about 0.2 s) and, with `context`, medspaCy's ConText pipeline (about 1.5 s
    and 150 MB, which records coded throughout never need). The service does both at start-up;
    `mdrcds batch` workers and `mdrcds evaluate` over several inputs load the models. Without it the
    first records of a process are several times slower than the rest (docs/performance.md).

    What is loaded by then (models, schemas, the rulebook) lives as long as the process, so it is moved
    out of the garbage collector's scans: a full collection no longer walks it while patients are
    evaluated."""
    preload_models("R4")
    if context:
        preload_context()
    gc.collect()
    gc.freeze()


def evaluate(
    document: Any,
    *,
    rulebook: Rulebook,
    engine: Engine,
    now: date,
    default_hook: str = "patient-view",
    fhir_version: FhirVersion = "R4",
    source: str = "<input>",
    include_research: bool = False,
    include_silent: bool = False,
) -> Evaluation:
    """Evaluate a parsed CDS Hooks request, Bundle or resource (or its raw JSON bytes/text, or the `Path`
    of a file holding it: read straight into the JSON parser, and OSError when it cannot be read).

    `now` is the evaluation time: what counts as current, and every date window, is relative to it.
    Research-mode rules give cards only with `include_research`; silent rules only with
    `include_silent` (researchers' tools), otherwise their findings go to `Evaluation.silent`.
    Raises mdrcds.errors.InputError for input that cannot be evaluated.
    """
    if isinstance(document, Path):
        fhir_input = read_file(
            document, source=source, default_hook=default_hook, screen=screen_for(rulebook.terminology)
        )
    elif isinstance(document, bytes | str):
        fhir_input = read_bytes(
            document, source=source, default_hook=default_hook, screen=screen_for(rulebook.terminology)
        )
    else:
        fhir_input = read_input(document, source=source, default_hook=default_hook)
    return evaluate_input(
        fhir_input,
        rulebook=rulebook,
        engine=engine,
        now=now,
        fhir_version=fhir_version,
        include_research=include_research,
        include_silent=include_silent,
    )


def evaluate_input(
    fhir_input: FhirInput,
    *,
    rulebook: Rulebook,
    engine: Engine,
    now: date,
    fhir_version: FhirVersion = "R4",
    include_research: bool = False,
    limits: Limits | None = None,
    include_silent: bool = False,
) -> Evaluation:
    """Evaluate input already read (`mdrcds.reading.fhir.read_bytes` / `read_input`), e.g. after the web layer
    has added prefetch data it fetched itself. Same contract as `evaluate`."""
    source = fhir_input.source
    limits = limits or Limits()
    if fhir_input.resource_count > limits.max_resources:
        raise EvaluationLimitError(
            f"{source}: {fhir_input.resource_count} resources; this service evaluates at most "
            f"{limits.max_resources} per call"
        )
    validate = validator(fhir_version)
    fact_set = extract_facts(fhir_input, rulebook.terminology, now, validate)
    if len(fact_set.facts) > limits.max_facts:
        raise EvaluationLimitError(
            f"{source}: {len(fact_set.facts)} clinical facts; at most {limits.max_facts} per call"
        )
    withheld = None
    if fact_set.deceased is None:
        matches = engine.run(fact_set.facts, max_matches=limits.max_matches)
        if matches:
            # Facts only of the past were not validated while read (docs/decisions/0011): any match
            # may rest on them, directly, through a derived fact or a card's context line.
            fact_set.validate_deferred(validate)
        focus = Focus.for_hook(fhir_input.hook, fhir_input.selection_refs, fhir_input.draft_refs)
        findings = build_findings(
            matches, fact_set.by_id(), rulebook.rules, fhir_input.hook, focus, include_research
        )
    else:
        # Every card is a treatment decision, and there is none to make for a patient who has died.
        findings = []
        withheld = f"the patient is recorded as deceased (Patient.{fact_set.deceased}): no rule evaluated"
    shown = [f for f in findings if include_silent or f.rule.status != "silent"]
    silent = [f for f in findings if not include_silent and f.rule.status == "silent"]
    cards = [build_card(f, rulebook, fhir_input.hook_instance, fact_set.facts, now) for f in shown]
    return Evaluation(
        source=source,
        hook=fhir_input.hook,
        hook_instance=fhir_input.hook_instance,
        patient_id=fact_set.patient_id,
        cards=cards,
        findings=shown,
        facts=fact_set,
        rulebook_version=rulebook.version,
        skipped_resources=dict(fhir_input.skipped),
        silent=silent,
        withheld=withheld,
    )
