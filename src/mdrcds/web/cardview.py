"""CDS Hooks cards as HTML, the way an EHR shows them: most urgent first, coloured by indicator,
Markdown detail (which holds the triggering resources and the numbered references), links, suggestions
as buttons, and a dismiss form that sends a feedback item with a coded override reason."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from mdrcds.knowledge.ruleschema import EVIDENCE_WORDS, INDICATOR_RANK
from mdrcds.web.html import attr, markdown


def sorted_cards(cards: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Cards most urgent first (critical, warning, info), keeping the service's order otherwise."""
    return sorted(cards, key=lambda card: INDICATOR_RANK.get(str(card.get("indicator")), 3))


def cards_html(
    cards: Sequence[dict[str, Any]], service_id: str | None, grades: Mapping[str, str] | None = None
) -> str:
    """Every card; with `service_id`, each gets accept and dismiss forms that post feedback; with
    `grades` (rule id -> evidence grade), an evidence badge beside the indicator."""
    if not cards:
        return '<p class="panel">No cards: no rule fired for this input.</p>'
    return "\n".join(card_html(card, service_id, grades or {}) for card in sorted_cards(cards))


def evidence_badge(grade: str) -> str:
    """The evidence grade as a badge, its meaning in the tooltip (the legend says it in full)."""
    words = EVIDENCE_WORDS.get(grade, "")
    return f'<span class="evidence {attr(grade)}" title="{attr(words)}">{escape(grade)} evidence</span>'


def evidence_legend() -> str:
    """What each evidence grade rests on, for the pages that show the badges."""
    items = "".join(
        f"<li>{evidence_badge(grade)} {escape(words)}</li>" for grade, words in EVIDENCE_WORDS.items()
    )
    return f'<details class="legend"><summary>Evidence grades</summary><ul>{items}</ul></details>'


def card_html(card: dict[str, Any], service_id: str | None, grades: Mapping[str, str] | None = None) -> str:
    indicator = str(card.get("indicator", "info"))
    source = card.get("source") or {}
    topic = source.get("topic") or {}
    label = escape(str(source.get("label", "")))
    if source.get("url"):
        label = f'<a href="{attr(source["url"])}" rel="noopener noreferrer">{label}</a>'
    rule = f" · rule <code>{escape(str(topic['code']))}</code>" if topic.get("code") else ""
    links = "".join(
        f'<li><a href="{attr(link.get("url", ""))}" rel="noopener noreferrer">'
        f"{escape(str(link.get('label', '')))}</a></li>"
        for link in card.get("links") or []
        if str(link.get("url", "")).startswith(("https://", "http://"))
    )
    parts = [
        f'<article class="card {attr(indicator)}" data-rule="{attr(topic.get("code", ""))}" '
        f'data-uuid="{attr(card.get("uuid", ""))}">',
        f'<h3><span class="ind {attr(indicator)}">{escape(indicator)}</span> '
        + (
            evidence_badge(grades[str(topic.get("code"))]) + " "
            if grades and topic.get("code") in grades
            else ""
        )
        + f"{escape(str(card.get('summary', '')))}</h3>",
        f'<div class="source">Source: {label}{rule}</div>',
        f'<div class="detail">{markdown(str(card.get("detail", "")))}</div>',
    ]
    if links:
        parts.append(f"<h4>Links</h4><ul>{links}</ul>")
    if service_id:
        parts.append(_actions(card, service_id))
    parts.append("</article>")
    return "\n".join(parts)


def _actions(card: dict[str, Any], service_id: str) -> str:
    uuid = attr(card.get("uuid", ""))
    hidden = (
        f'<input type="hidden" name="service" value="{attr(service_id)}">'
        f'<input type="hidden" name="card" value="{uuid}">'
    )
    buttons = "".join(
        f'<form method="post" action="/pages/feedback">{hidden}'
        '<input type="hidden" name="outcome" value="accepted">'
        f'<input type="hidden" name="suggestion" value="{attr(suggestion.get("uuid", ""))}">'
        f'<button type="submit">{escape(str(suggestion.get("label", "")))}</button></form>'
        for suggestion in card.get("suggestions") or []
    )
    reasons = "".join(
        f'<option value="{attr(reason.get("code", ""))}">{escape(str(reason.get("display", "")))}</option>'
        for reason in card.get("overrideReasons") or []
    )
    dismiss = (
        f'<details class="dismiss"><summary>Dismiss this card</summary>'
        f'<form method="post" action="/pages/feedback">{hidden}'
        '<input type="hidden" name="outcome" value="overridden">'
        f'<label for="reason-{uuid}">Override reason</label>'
        f'<select id="reason-{uuid}" name="reason" required><option value="">choose a reason</option>'
        f"{reasons}</select>"
        f'<label for="comment-{uuid}">Comment (optional)</label>'
        f'<textarea id="comment-{uuid}" name="comment" maxlength="2000" rows="2"></textarea>'
        '<button type="submit" class="secondary">Dismiss with this reason</button></form></details>'
    )
    return f'<div class="actions">{buttons}{dismiss}</div>'
