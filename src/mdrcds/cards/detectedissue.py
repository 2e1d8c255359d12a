"""Cards as FHIR R4 DetectedIssue resources (pure), as the HL7 PDDI CDS IG suggests for persisting
interaction findings.

- `severity` from the indicator (critical -> high, warning -> moderate, info -> low);
- `code` names the rule (system `urn:mdrcds:rule`, the cards' `source.topic`), `status` preliminary:
  an automated finding that no clinician has reviewed yet;
- `implicated`: the resources that triggered the card; `evidence`: the evidence grade and summary;
  `detail`: the card's detail; `reference`: the first citation;
- `mitigation`: from the clinician's feedback, when given: the accepted suggestion, or the override
  reason with its coding and comment;
- `meta.security`: the most restrictive HL7 v3 Confidentiality label of the triggering resources, when
  any of them carries one (a finding from restricted data is itself restricted).

The caller validates the result with the FHIR models (`mdrcds.reading.fhir.build_resource`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, Protocol

from mdrcds.cards.render import TOPIC_SYSTEM, Card, rule_of
from mdrcds.facts.fhirjson import CONFIDENTIALITY_ORDER, CONFIDENTIALITY_SYSTEM
from mdrcds.knowledge.rulebook import OVERRIDE_REASON_SYSTEM, Rulebook
from mdrcds.reasoning.findings import Finding

SEVERITY = {"critical": "high", "warning": "moderate", "info": "low"}
"""DetectedIssue.severity (FHIR R4 detectedissue-severity) for each CDS Hooks indicator."""

JsonObject = dict[str, Any]


class CardOutcome(Protocol):
    """What a clinician did with a card (CDS Hooks feedback), as the store's `FeedbackItem` holds it."""

    @property
    def card(self) -> str: ...
    @property
    def outcome(self) -> str: ...
    @property
    def outcome_timestamp(self) -> datetime: ...
    @property
    def accepted_suggestions(self) -> Sequence[str]: ...
    @property
    def override_reason(self) -> dict[str, str] | None: ...
    @property
    def user_comment(self) -> str | None: ...


def detected_issue(
    card: Card,
    finding: Finding,
    rulebook: Rulebook,
    *,
    patient_id: str | None,
    identified: date,
    feedback: CardOutcome | None = None,
) -> JsonObject:
    """The DetectedIssue of one card (see the module docstring)."""
    rule = finding.rule
    assert rule_of(card) == rule.id, "the card and the finding are of different rules"
    citations = [rulebook.citations[key] for key in rule.citations]
    issue: JsonObject = {
        "resourceType": "DetectedIssue",
        "id": card["uuid"],
        "status": "preliminary",
        "code": {
            "coding": [{"system": TOPIC_SYSTEM, "code": rule.id, "display": rule.title}],
            "text": card["summary"],
        },
        "severity": SEVERITY[card["indicator"]],
        "identifiedDateTime": identified.isoformat(),
        "author": {"display": rulebook.meta.source_label},
        "implicated": [{"reference": source} for source in _sources(finding)],
        "evidence": [
            {"code": [{"text": f"Evidence: {rule.evidence.grade}. {rule.evidence.summary.strip()}"}]}
        ],
        "detail": card.get("detail", card["summary"]),
    }
    if patient_id:
        issue["patient"] = {"reference": f"Patient/{patient_id}"}
    url = citations[0].primary_url() if citations else None
    if url:
        issue["reference"] = url
    mitigation = _mitigation(card, feedback)
    if mitigation:
        issue["mitigation"] = [mitigation]
    label = _most_restrictive(finding)
    if label is not None:
        issue["meta"] = {"security": [{"system": CONFIDENTIALITY_SYSTEM, "code": label}]}
    return issue


def _most_restrictive(finding: Finding) -> str | None:
    labels = [
        str(fact.attributes["confidentiality"])
        for match in finding.matches
        for fact in match.values()
        if fact.attributes.get("confidentiality") in CONFIDENTIALITY_ORDER
    ]
    return max(labels, key=CONFIDENTIALITY_ORDER.index) if labels else None


def _sources(finding: Finding) -> list[str]:
    return list(dict.fromkeys(fact.source for match in finding.matches for fact in match.values()))


def _mitigation(card: Card, feedback: CardOutcome | None) -> JsonObject | None:
    if feedback is None or feedback.card != card["uuid"]:
        return None
    when = feedback.outcome_timestamp.isoformat()
    if feedback.outcome == "accepted":
        labels = {s["uuid"]: s["label"] for s in card.get("suggestions", [])}
        accepted = [labels.get(uuid, uuid) for uuid in feedback.accepted_suggestions]
        text = "Accepted: " + "; ".join(accepted) if accepted else "Card accepted"
        return {"action": {"text": text}, "date": when}
    reason = feedback.override_reason or {}
    action: JsonObject = {
        "text": "Overridden" + (f": {feedback.user_comment}" if feedback.user_comment else "")
    }
    if reason.get("code"):
        action["coding"] = [
            {
                "system": reason.get("system") or OVERRIDE_REASON_SYSTEM,
                "code": reason["code"],
                **({"display": reason["display"]} if reason.get("display") else {}),
            }
        ]
    return {"action": action, "date": when}
