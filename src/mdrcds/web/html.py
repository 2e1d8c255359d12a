"""HTML for the pages: the page shell, safe Markdown, and the stylesheet.

Every value put into a page goes through `escape` or `markdown`; `markdown` renders CommonMark with
raw HTML off and only http(s), mailto and relative links, so card text can never inject script. The
pages need no script at all: the Content-Security-Policy (see `mdrcds.web.pages`) forbids it.
"""

from __future__ import annotations

from html import escape

from markdown_it import MarkdownIt

SYNTHETIC_BANNER = (
    "Decision support for review only. The bundled samples are synthetic (Synthea, HL7 examples and "
    "hand-made cases): no real patient appears in them."
)
NAV = (
    ("/pages/review", "Card review"),
    ("/pages/rules", "Rule catalogue"),
    ("/pages/testing", "Rule testing"),
    ("/pages/governance", "Governance"),
)
OPEN_USER = "authentication off"
"""Who the pages say is signed in while MDRCDS_AUTH=off."""


def _safe_link(url: str) -> bool:
    lowered = url.strip().lower()
    return lowered.startswith(("https://", "http://", "mailto:", "/", "#")) or ":" not in lowered


_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("table").disable("image")
_MARKDOWN.validateLink = _safe_link  # type: ignore[method-assign]


def markdown(text: str) -> str:
    """CommonMark as HTML, with raw HTML escaped and unsafe links left as text."""
    rendered: str = _MARKDOWN.render(text)
    return rendered


def attr(value: object) -> str:
    """A value for a quoted HTML attribute."""
    return escape(str(value), quote=True)


def page(title: str, body: str, *, user: str | None = None, active: str = "") -> str:
    """A whole page: the banner, the navigation, `body` (already HTML)."""
    links = "".join(
        f'<a href="{href}"{" aria-current=page" if href == active else ""}>{escape(label)}</a>'
        for href, label in NAV
    )
    who = ""
    if user == OPEN_USER:
        who = f'<span class="who">{escape(user)}</span>'
    elif user:
        who = (
            f'<span class="who">{escape(user)} · <form class="inline" method="post" action="/pages/logout">'
            '<button type="submit" class="link">sign out</button></form></span>'
        )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} · mdrcds</title>
<link rel="stylesheet" href="/pages/static/pages.css">
</head><body>
<div class="banner" role="note">{escape(SYNTHETIC_BANNER)}</div>
<header><a class="home" href="/pages">mdrcds</a><nav>{links}</nav>{who}</header>
<main><h1>{escape(title)}</h1>
{body}
</main></body></html>
"""


def notice(message: str, kind: str = "error") -> str:
    """A message box; `kind` is error or ok."""
    role = "alert" if kind == "error" else "status"
    return f'<p class="notice {attr(kind)}" role="{role}">{escape(message)}</p>'


STYLESHEET = """
body { font: 15px/1.5 system-ui, sans-serif; margin: 0; color: #1a202c; background: #f7fafc; }
.banner { background: #fefcbf; border-bottom: 1px solid #d69e2e; padding: .4rem 1rem; font-size: 13px; }
header { display: flex; flex-wrap: wrap; gap: .5rem 1.2rem; align-items: center; padding: .6rem 1rem;
  background: #1a365d; }
header a { color: #e2e8f0; text-decoration: none; } header a[aria-current] { color: #fff; font-weight: 600;
  border-bottom: 2px solid #90cdf4; }
header .home { font-weight: 700; color: #fff; } header nav { display: flex; flex-wrap: wrap; gap: 1rem; }
header .who { margin-left: auto; color: #cbd5e0; font-size: 13px; }
form.inline { display: inline; margin: 0; }
button.link { background: none; border: 0; padding: 0; color: #e2e8f0; font: inherit; cursor: pointer;
  text-decoration: underline; }
main { padding: 1rem; max-width: 1200px; margin: 0 auto; }
h1 { font-size: 1.5rem; margin: .3rem 0 1rem; } h2 { font-size: 1.2rem; } h3 { font-size: 1.05rem; }
table { border-collapse: collapse; width: 100%; background: #fff; }
th, td { border-bottom: 1px solid #e2e8f0; padding: .35rem .5rem; text-align: left; vertical-align: top; }
.scroll { overflow-x: auto; }
.split { display: grid; grid-template-columns: minmax(0, 3fr) minmax(0, 2fr); gap: 1rem; }
@media (max-width: 760px) { .split { grid-template-columns: minmax(0, 1fr); } }
form.panel, .panel { background: #fff; border: 1px solid #e2e8f0; border-radius: 6px; padding: .8rem;
  margin-bottom: 1rem; }
label { display: block; font-weight: 600; margin: .4rem 0 .2rem; }
textarea { width: 100%; box-sizing: border-box; min-height: 9rem; font: 12px/1.4 ui-monospace, monospace; }
input, select, button, textarea { font-size: 14px; max-width: 100%; }
button, .button { background: #2b6cb0; color: #fff; border: 0; border-radius: 4px; padding: .4rem .8rem;
  cursor: pointer; text-decoration: none; display: inline-block; margin: .2rem .3rem .2rem 0; }
button.secondary { background: #4a5568; }
.row { display: flex; flex-wrap: wrap; gap: .8rem; align-items: end; }
.card { background: #fff; border: 1px solid #e2e8f0; border-left: 6px solid #4a5568; border-radius: 4px;
  padding: .6rem .9rem; margin-bottom: .9rem; }
/* indicators as the CDS Hooks sandbox reads them: critical red, warning orange, info blue */
.card.critical { border-left-color: #c53030; } .card.warning { border-left-color: #c05621; }
.card.info { border-left-color: #2b6cb0; }
.card h3 { margin: .1rem 0 .4rem; }
.ind { color: #fff; border-radius: 3px; padding: 0 .4rem; font-size: 12px; font-weight: 600;
  text-transform: uppercase; background: #4a5568; white-space: nowrap; overflow-wrap: normal; }
.ind.critical { background: #c53030; } .ind.warning { background: #c05621; }
.ind.info { background: #2b6cb0; } .ind.silent { background: #718096; }
.ind.retired { background: #a0aec0; } .ind.active { background: #2f855a; }
.evidence { border: 1px solid #4a5568; color: #2d3748; border-radius: 3px; padding: 0 .35rem; font-size: 12px;
  font-weight: 600; white-space: nowrap; background: #fff; }
.evidence.preclinical { border-style: dashed; } .evidence.label, .evidence.guideline, .evidence.trial {
  border-width: 2px; }
details.legend ul { list-style: none; padding-left: 0; } details.legend li { margin: .2rem 0; }
.source { color: #4a5568; font-size: 13px; }
.detail { font-size: 14px; overflow-wrap: anywhere; } .detail p { margin: .4rem 0; }
.card { overflow-wrap: anywhere; }
/* in tables a word breaks only when it cannot fit on a line of its own: columns are sized to whole words */
td { overflow-wrap: break-word; }
.rule-doc, .rule-doc a, main a, code { overflow-wrap: anywhere; }
.row > div { min-width: 0; max-width: 100%; } select { max-width: 100%; }
/* phones: each table row becomes a stacked block, each cell labelled by its column */
@media (max-width: 600px) {
  table.stack, table.stack tbody, table.stack tr, table.stack td { display: block; width: 100%;
    box-sizing: border-box; }
  table.stack thead { display: none; }
  table.stack tr { border-bottom: 2px solid #e2e8f0; padding: .4rem 0; }
  table.stack td { border: 0; padding: .15rem .3rem; overflow-wrap: anywhere; }
  table.stack td[data-label]::before { content: attr(data-label) ": "; font-weight: 600; color: #4a5568; }
  svg { max-width: 100%; height: auto; }
  .rule-doc table { table-layout: fixed; width: 100%; }
  .rule-doc th, .rule-doc td { overflow-wrap: anywhere; padding: .25rem .3rem; }
}
pre { background: #1a202c; color: #e2e8f0; padding: .6rem; overflow: auto; max-height: 32rem; font-size: 12px;
  white-space: pre-wrap; word-break: break-word; }
.notice { padding: .5rem .8rem; border-radius: 4px; } .notice.error { background: #fed7d7; color: #742a2a; }
.notice.ok { background: #c6f6d5; color: #22543d; }
.pass { color: #22543d; font-weight: 600; } .fail { color: #9b2c2c; font-weight: 600; }
details { margin: .3rem 0; } summary { cursor: pointer; }
.muted { color: #718096; font-size: 13px; }
svg text { font: 11px system-ui, sans-serif; fill: #2d3748; }
"""
