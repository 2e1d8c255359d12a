"""`report.html` of a batch run: one self-contained page (inline CSS and SVG, no scripts, no fetches)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from html import escape
from typing import Any

from mdrcds.knowledge.ruleschema import EVIDENCE_WORDS
from mdrcds.research.batch import FindingRow

_COLOURS = {"info": "#2b6cb0", "warning": "#c05621", "critical": "#c53030"}

MAX_PATIENT_ROWS = 2000


def render_report(summary: dict[str, Any], rows: Sequence[FindingRow]) -> str:
    """The HTML page: run facts, a bar chart of firing rates per rule, the patients with cards."""
    rules = summary["rules"]
    bar_height, width, label_width = 22, 880, 430
    chart_height = bar_height * len(rules) + 30
    highest = max([r["rate"] for r in rules.values()] + [0.0001])
    bars = []
    for index, (rule_id, info) in enumerate(
        sorted(rules.items(), key=lambda item: (-item[1]["rate"], item[0]))
    ):
        y = index * bar_height + 4
        length = (width - label_width - 90) * info["rate"] / highest
        colour = _COLOURS.get(info["indicator"], "#4a5568")
        bars.append(
            f'<text x="{label_width - 8}" y="{y + 15}" text-anchor="end">{escape(rule_id)} '
            f"[{escape(str(info.get('evidence', '?')))}]</text>"
            f'<rect class="bar" data-rule="{escape(rule_id)}" x="{label_width}" y="{y}" width="{length:.1f}" '
            f'height="{bar_height - 6}" fill="{colour}"><title>{escape(rule_id)}: {info["patients"]} patients'
            f"</title></rect>"
            f'<text x="{label_width + length + 6:.1f}" y="{y + 15}">'
            f"{info['rate'] * 100:.2f}% ({info['patients']})</text>"
        )
    by_patient: dict[str, list[FindingRow]] = defaultdict(list)
    for row in rows:
        by_patient[row.patient].append(row)
    table_rows = []
    for patient in sorted(by_patient)[:MAX_PATIENT_ROWS]:
        for number, row in enumerate(by_patient[patient]):
            first = f'<td rowspan="{len(by_patient[patient])}">{escape(patient)}</td>' if number == 0 else ""
            table_rows.append(
                f'<tr>{first}<td><span class="ind {escape(row.indicator)}">'
                f"{escape(row.indicator)}</span></td>"
                f"<td>{escape(row.rule)}</td><td>{escape(row.evidence)}</td><td>{escape(row.summary)}</td>"
                f'<td class="triggers">{escape(row.triggers.replace(";", ", "))}</td></tr>'
            )
    shown = min(len(by_patient), MAX_PATIENT_ROWS)
    errors = ", ".join(f"{escape(k)}: {v}" for k, v in summary["errors"].items()) or "none"
    legend = "".join(
        f'<li><span class="ind {name}">{name}</span> the card\'s indicator</li>' for name in _COLOURS
    ) + "".join(
        f"<li><b>[{escape(grade)}]</b> {escape(words)}</li>" for grade, words in EVIDENCE_WORDS.items()
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>mdrcds batch report</title>
<style>
body {{ font: 14px/1.45 system-ui, sans-serif; margin: 2rem; color: #1a202c; }}
h1 {{ font-size: 1.4rem; }} table {{ border-collapse: collapse; width: 100%; }}
td, th {{ border-bottom: 1px solid #e2e8f0; padding: .3rem .5rem; text-align: left; vertical-align: top; }}
svg text {{ font: 12px system-ui, sans-serif; }} .triggers {{ color: #4a5568; font-size: 12px; }}
.ind {{ color: white; border-radius: 3px; padding: 0 .35rem; }} .info {{ background: #2b6cb0; }}
.warning {{ background: #c05621; }} .critical {{ background: #c53030; }} dl {{ display: grid;
grid-template-columns: max-content auto; gap: .1rem 1rem; }} dt {{ font-weight: 600; }}
.legend {{ list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: .2rem 1.2rem;
font-size: 12px; }}
</style></head><body>
<h1>mdrcds batch report</h1>
<dl>
<dt>Patients</dt><dd>{summary["patients"]:,} ({summary["patients_evaluated"]:,} evaluated,
{summary["patients_with_cards"]:,} with cards)</dd>
<dt>Evaluation date</dt><dd>{escape(summary["now"])} · hook {escape(summary["hook"])}</dd>
<dt>Rulebook</dt><dd>{escape(summary["rulebook"])}</dd>
<dt>Errors</dt><dd>{errors}</dd>
<dt>Command</dt><dd><code>{escape(" ".join(summary["command"]))}</code></dd>
</dl>
<h2>Rule firing rates (share of evaluated patients)</h2>
<ul id="legend" class="legend">{legend}</ul>
<p>A rate is how often a rule made a card, not a prevalence of harm: read it with the rule's evidence
grade (in brackets after its id).</p>
<svg id="rates" role="img" aria-label="Rule firing rates" width="{width}" height="{chart_height}"
 xmlns="http://www.w3.org/2000/svg">{"".join(bars)}</svg>
<h2>Patients with cards ({shown:,} of {len(by_patient):,} shown)</h2>
<table><thead><tr><th>Patient</th><th>Indicator</th><th>Rule</th><th>Evidence</th><th>Summary</th>
<th>Triggered by</th></tr>
</thead><tbody>
{"".join(table_rows)}
</tbody></table>
<p>Decision support only: each card's evidence grade and references are in the rule catalogue.</p>
</body></html>
"""
