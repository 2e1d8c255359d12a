"""The governance page's HTML: a table per rule and an SVG chart of one rule's override rate over time."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from html import escape

from mdrcds.store.governance import Period, RuleFigures
from mdrcds.web.cardview import evidence_badge, evidence_legend
from mdrcds.web.html import attr

PERIODS = (7, 30, 90, 365)
NONE = "&#8211;"  # an en dash: nothing to show


def _percent(value: float | None) -> str:
    return NONE if value is None else f"{value * 100:.0f}%"


def _rate(r: RuleFigures) -> str:
    """The override rate with its denominator: "1 of 2 cards with feedback (50%)"."""
    if not r.with_feedback:
        return "no feedback yet"
    return f"{r.overridden} of {r.with_feedback} cards with feedback ({_percent(r.override_rate)})"


CSV_COLUMNS = (
    "rule",
    "title",
    "status",
    "indicator",
    "evidence",
    "cards_shown",
    "accepted",
    "overridden",
    "cards_with_feedback",
    "override_rate",
    "top_override_reasons",
    "would_fire",
    "eligible_calls",
    "period_start",
    "period_end_exclusive",
)


def governance_csv(rows: Sequence[RuleFigures], period: Period) -> str:
    """The table as CSV for a committee's minutes. Cells that a spreadsheet would read as a formula
    (override reasons come from EHRs) are prefixed with an apostrophe."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        reasons = "; ".join(f"{reason} ({count})" for reason, count in r.top_reasons())
        rate = "" if r.override_rate is None else f"{r.override_rate:.4f}"
        writer.writerow(
            _cell(value)
            for value in (
                r.rule_id,
                r.title,
                r.status,
                r.indicator,
                r.evidence,
                r.shown,
                r.accepted,
                r.overridden,
                r.with_feedback,
                rate,
                reasons,
                r.would_fire,
                r.eligible,
                period.start.isoformat(),
                period.end.isoformat(),
            )
        )
    return out.getvalue()


def _cell(value: object) -> str:
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def governance_html(rows: Sequence[RuleFigures], period: Period, days: int, chosen: str | None) -> str:
    """The period picker, the per-rule table and the chart of `chosen` (default: most feedback)."""
    options = "".join(
        f'<option value="{d}"{" selected" if d == days else ""}>last {d} days</option>' for d in PERIODS
    )
    picker = (
        '<form class="panel row" method="get" action="/pages/governance">'
        f'<div><label for="days">Period</label><select id="days" name="days">{options}</select></div>'
        f'<div><label for="rule">Chart</label><select id="rule" name="rule">'
        + "".join(
            f'<option value="{attr(r.rule_id)}"{" selected" if r.rule_id == chosen else ""}>'
            f"{escape(r.rule_id)}</option>"
            for r in rows
        )
        + '</select></div><div><button type="submit">Show</button></div></form>'
    )
    body = [
        picker,
        f'<p class="muted">{period.start.isoformat()} to {period.end.isoformat()} (UTC, end exclusive). '
        "Override rate = overridden ÷ cards with feedback. Would-fire rate (silent rules) = answered calls "
        "in which the rule would have fired ÷ answered calls of the hooks it serves. Card-review "
        "evaluations count like EHR calls.</p>",
        f'<p><a class="button" href="/pages/governance.csv?days={days}" download>'
        "Download this table (CSV)</a></p>",
        evidence_legend(),
        '<div class="scroll"><table id="governance" class="stack"><thead><tr><th>rule</th><th>status</th>'
        "<th>indicator</th><th>evidence</th>"
        "<th>cards shown</th><th>accepted</th><th>overridden</th><th>override rate</th>"
        "<th>top override reasons</th><th>would fire (silent)</th></tr></thead><tbody>",
    ]
    for r in rows:
        reasons = "; ".join(f"{escape(reason)} ({count})" for reason, count in r.top_reasons()) or NONE
        would = (
            f"{r.would_fire} of {r.eligible} calls ({_percent(r.would_fire_rate)})"
            if r.status == "silent" or r.would_fire
            else NONE
        )
        body.append(
            f'<tr data-rule="{attr(r.rule_id)}"><td>{escape(r.title)}<br>'
            f"<code>{escape(r.rule_id)}</code></td>"
            f'<td data-label="status"><span class="ind {attr(r.status)}">{escape(r.status)}</span></td>'
            f'<td data-label="indicator"><span class="ind {attr(r.indicator)}">'
            f"{escape(r.indicator)}</span></td>"
            f'<td data-label="evidence">{evidence_badge(r.evidence)}</td>'
            f'<td class="shown" data-label="cards shown">{r.shown}</td>'
            f'<td class="accepted" data-label="accepted">{r.accepted}</td>'
            f'<td class="overridden" data-label="overridden">{r.overridden}</td>'
            f'<td class="rate" data-label="override rate">{_rate(r)}</td>'
            f'<td class="reasons" data-label="top override reasons">{reasons}</td>'
            f'<td class="would" data-label="would fire (silent)">{would}</td></tr>'
        )
    body.append("</tbody></table></div>")
    figure = next((r for r in rows if r.rule_id == chosen), None)
    if figure is not None:
        body.append(f"<h2>Override rate over time: {escape(figure.title)}</h2>")
        body.append(chart(figure, period))
    return "\n".join(body)


def chart(figure: RuleFigures, period: Period) -> str:
    """Bars of the override rate per bucket (overridden of cards with feedback); grey without feedback."""
    series = figure.series
    width, height, left, bottom, top = 860, 220, 40, 40, 10
    plot_height = height - bottom - top
    step = (width - left - 10) / max(1, len(series))
    parts = [
        f'<svg id="override-chart" role="img" viewBox="0 0 {width} {height}" width="100%" '
        f'aria-label="Override rate over time for {attr(figure.rule_id)}">',
        f"<title>Override rate per {period.bucket_days()}-day bucket</title>",
    ]
    for fraction in (0, 0.5, 1):
        y = top + plot_height * (1 - fraction)
        parts.append(
            f'<line x1="{left}" x2="{width - 10}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e2e8f0"/>'
            f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{fraction * 100:.0f}%</text>'
        )
    label_every = max(1, len(series) // 10)
    for index, (start, overridden, total) in enumerate(series):
        x = left + index * step
        if total:
            bar = plot_height * overridden / total
            parts.append(
                f'<rect class="bar" x="{x + 1:.1f}" y="{top + plot_height - bar:.1f}" '
                f'width="{max(1.0, step - 2):.1f}" height="{bar:.1f}" fill="#c05621" '
                f'data-overridden="{overridden}" data-total="{total}">'
                f"<title>{start.isoformat()}: {overridden} of {total} overridden</title></rect>"
            )
        else:
            parts.append(
                f'<rect x="{x + 1:.1f}" y="{top + plot_height - 2}" width="{max(1.0, step - 2):.1f}" '
                f'height="2" fill="#cbd5e0"><title>{start.isoformat()}: no feedback</title></rect>'
            )
        if index % label_every == 0:
            parts.append(
                f'<text x="{x + step / 2:.1f}" y="{height - bottom + 14}" text-anchor="middle">'
                f"{start.strftime('%d %b')}</text>"
            )
    parts.append("</svg>")
    return "".join(parts)
