"""Cards: findings rendered as CDS Hooks 2.0 cards (pure).

The detail follows the PDDI minimum-information order: consequence, mechanism, evidence grade, what
triggered the card (with dates and how each item was recognised), recommendation, numbered
references. Empty optional fields are left out, as the spec requires.
"""

from __future__ import annotations

import string
import uuid
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from mdrcds.cards.inline import inline_markdown, one_line
from mdrcds.facts import Fact
from mdrcds.knowledge.rulebook import OVERRIDE_REASON_SYSTEM, Rulebook
from mdrcds.knowledge.ruleschema import EVIDENCE_WORDS, TextVariant
from mdrcds.reasoning.findings import Finding

Card = dict[str, Any]

TOPIC_SYSTEM = "urn:mdrcds:rule"
"""`source.topic.system` of every card; `source.topic.code` is the rule id."""

SUMMARY_LIMIT = 140
_CARD_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:mdrcds:card")


def card_uuid(rule_id: str, rule_version: str, fact_ids: list[str], hook_instance: str | None) -> str:
    """Deterministic card id: the same rule, facts and hook instance always give the same uuid."""
    key = "|".join([rule_id, rule_version, ",".join(sorted(fact_ids)), hook_instance or ""])
    return str(uuid.uuid5(_CARD_NAMESPACE, key))


def join_names(names: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def _distinct(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


def render(template: str, finding: Finding, shorten: bool = False, markdown: bool = False) -> str:
    """Fill `{alias}` with the matched member names, `{alias.label}` with the resource texts and
    `{alias.<attribute>}` (gene, significance, target) with that fact attribute. Every filled-in value
    is made inline text (`markdown` for the card's detail, plain text otherwise): data never adds a line
    or a Markdown block."""
    as_text = inline_markdown if markdown else one_line

    def value(alias: str, attribute: str) -> str:
        facts = finding.facts_of(alias)
        names = _distinct([as_text(_attribute(f, attribute)) for f in facts])
        if shorten and len(names) > 1:
            return f"{names[0]} and {len(names) - 1} more"
        return join_names(names)

    out = []
    for literal, field_name, _, _ in string.Formatter().parse(template):
        out.append(literal)
        if field_name is not None:
            alias, _, attribute = field_name.partition(".")
            out.append(value(alias, attribute))
    return "".join(out)


def _attribute(fact: Fact, attribute: str) -> str:
    if attribute == "label":
        return fact.label
    if attribute:
        return str(fact.attributes.get(attribute, "unknown"))
    return fact.member


def summary_of(finding: Finding) -> str:
    """The rendered summary, shortened to fewer than 140 characters when the drug lists are long."""
    summary = render(finding.rule.card.summary, finding)
    if len(summary) >= SUMMARY_LIMIT:
        summary = render(finding.rule.card.summary, finding, shorten=True)
    if len(summary) >= SUMMARY_LIMIT:
        summary = summary[: SUMMARY_LIMIT - 2].rstrip() + "…"
    return summary


def build_card(
    finding: Finding,
    rulebook: Rulebook,
    hook_instance: str | None,
    facts: Sequence[Fact] = (),
    now: date | None = None,
) -> Card:
    """One CDS Hooks card for a finding; `facts` and `now` feed the rule's context lines."""
    rule = finding.rule
    citations = [rulebook.citations[key] for key in rule.citations]
    card_id = card_uuid(rule.id, rule.version, finding.fact_ids(), hook_instance)
    card: Card = {
        "uuid": card_id,
        "summary": summary_of(finding),
        "indicator": rule.indicator,
        "detail": _detail(finding, [c.reference() for c in citations], _context_lines(finding, facts, now)),
        "source": {
            "label": rulebook.meta.source_label,
            "url": rule.card.source_url or citations[0].primary_url(),
            "topic": {"system": TOPIC_SYSTEM, "code": rule.id, "display": rule.title},
        },
    }
    if not card["source"]["url"]:
        del card["source"]["url"]
    suggestions = _suggestions(finding, card_id)
    if suggestions:
        card["suggestions"] = suggestions
        card["selectionBehavior"] = "at-most-one"
    reasons = rule.card.override_reasons or rulebook.meta.override_reasons
    card["overrideReasons"] = [
        {"system": OVERRIDE_REASON_SYSTEM, "code": code, "display": rulebook.override_reasons[code]}
        for code in reasons
    ]
    # The link's launch hint and the suggestion's isRecommended are optional in CDS Hooks 2.0, but strict
    # client models require them: send them, with the spec's meaning (docs/decisions/0006). The 2.0.1
    # specification spells the hint `autolaunchable`; HealthChain's model requires `autoLaunchable`.
    links = [
        {
            "label": link.label,
            "url": link.url,
            "type": "absolute",
            "autolaunchable": False,
            "autoLaunchable": False,
        }
        for citation in citations
        for link in citation.links()
    ]
    if links:
        card["links"] = links
    return card


def _context_lines(finding: Finding, facts: Sequence[Fact], now: date | None) -> list[str]:
    lines = []
    for context in finding.rule.card.context:
        if context.alias and context.if_member:
            members = {fact.member for fact in finding.facts_of(context.alias)}
            if not members & set(context.if_member):
                continue
        recent = [
            fact
            for fact in facts
            if fact.value_set == context.value_set
            and fact.current
            and fact.start is not None
            and now is not None
            and now - timedelta(days=context.within_days) <= fact.start <= now
        ]
        if recent:
            latest = max(recent, key=lambda fact: (fact.start or date.min, fact.id))
            value = latest.attributes.get("value")
            shown = (
                f"{value} {latest.attributes.get('unit', '')}".strip()
                if value is not None
                else "result on record"
            )
            found = f"{shown} on {latest.start} ({latest.source})"
        else:
            found = "none in the data sent"
        lines.append(f"- {context.label} in the last {context.within_days} days: {inline_markdown(found)}")
    return lines


def _detail(finding: Finding, references: list[str], context: list[str]) -> str:
    rule = finding.rule

    def text(template: str) -> str:
        return render(template, finding, markdown=True)

    card = rule.card
    grade = rule.evidence.grade
    lines = [
        # first, for EHRs that show only the start of the detail: how strong the evidence is, in words
        f"**{grade.capitalize()} evidence:** {EVIDENCE_WORDS[grade]}.",
        "",
        f"**Consequence.** {text(_chosen(card.consequence, card.consequence_variants, finding))}",
        "",
        f"**Mechanism.** {text(rule.card.mechanism)}",
        "",
        f"**Evidence: {rule.evidence.grade}.** {rule.evidence.summary.strip()}",
        "",
        f"**Seriousness: {rule.seriousness}** (PDDI minimum information model; the card's indicator, "
        f"{rule.indicator}, follows the strength of the evidence).",
        "",
        "**What triggered this card**",
        "",
    ]
    lines += [f"- {inline_markdown(fact.describe())}" for fact in _triggers(finding)]
    if context:
        lines += ["", "**Context**", "", *context]
    recommendation = _chosen(card.recommendation, card.recommendation_variants, finding)
    lines += ["", f"**Recommendation.** {text(recommendation)}", "", "**References**", ""]
    lines += [f"{number}. {reference}" for number, reference in enumerate(references, start=1)]
    return "\n".join(line.rstrip() for line in lines)


def _triggers(finding: Finding) -> list[Fact]:
    """Each triggering resource once, by its strongest match: by code before by name, then the first
    alias of the rule (a fixed combination such as sulfamethoxazole/trimethoprim is one resource)."""
    best: dict[str, Fact] = {}
    for alias in finding.rule.when.all:
        for fact in finding.facts_of(alias):
            kept = best.get(fact.source)
            if kept is None or (kept.matched_by == "name" and fact.matched_by == "code"):
                best[fact.source] = fact
    return list(best.values())


def _chosen(default: str, variants: Sequence[TextVariant], finding: Finding) -> str:
    """The field's text for this finding: the variants that hold, in their places around (or instead
    of) the default text."""
    holding = [v for v in variants if _holds(v, finding)]
    instead = [v.text.strip() for v in holding if v.place == "instead"]
    middle = instead or [default.strip()]
    before = [v.text.strip() for v in holding if v.place == "before"]
    after = [v.text.strip() for v in holding if v.place == "after"]
    return " ".join([*before, *middle, *after])


def _holds(variant: TextVariant, finding: Finding) -> bool:
    return all(
        any(
            all(
                (fact.member if field == "member" else fact.attributes.get(field)) in values
                for field, values in tests.items()
            )
            for fact in finding.facts_of(alias)
        )
        for alias, tests in variant.when.items()
    )


def _suggestions(finding: Finding, card_id: str) -> list[dict[str, Any]]:
    suggestions = []
    for index, template in enumerate(finding.rule.card.suggestions):
        drafts: list[Fact] = [f for f in finding.facts_of(template.remove_draft) if f.draft]
        sources = _distinct([f.source for f in drafts])
        if not sources:
            continue
        suggestions.append(
            {
                "label": render(template.label, finding),
                "uuid": str(uuid.uuid5(_CARD_NAMESPACE, f"{card_id}|suggestion|{index}")),
                # Recommended only where the rule's action is to avoid the drug, not merely to consider it.
                "isRecommended": finding.rule.card.action == "avoid",
                "actions": [
                    {
                        "type": "delete",
                        "description": f"Remove the draft order {one_line(source)}",
                        "resourceId": source,
                    }
                    for source in sources
                ],
            }
        )
    return suggestions


def rule_of(card: Card) -> str:
    """The id of the rule that made a card (its CDS Hooks `source.topic.code`)."""
    return str(card["source"]["topic"]["code"])
