"""Card review: evaluate a sample, a pasted or uploaded CDS Hooks request, Bundle or NDJSON for one
patient, see the cards as an EHR shows them, and accept or dismiss them with real feedback.

A review evaluation is a CDS call in all but transport: it runs on the engine thread with the
service's rules and limits, gets a fresh hook instance (so its cards have new uuids), and is audited
like an EHR call, so the feedback sent from this page counts on the governance page.
"""

from __future__ import annotations

import io
import itertools
import time
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from functools import lru_cache
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from mdrcds.errors import EngineError, InputError, InputFormatError
from mdrcds.knowledge.rulebook import OVERRIDE_REASON_SYSTEM
from mdrcds.reading.fhir import HOOKS, FhirInput, read_bytes
from mdrcds.reading.hookrequest import RequestError
from mdrcds.reading.population import ReadProblem, ndjson_records
from mdrcds.research.explain import explain
from mdrcds.research.testcases import stated_now
from mdrcds.service import Evaluation
from mdrcds.store.issued import NotIssued
from mdrcds.web.callstate import CallState
from mdrcds.web.cardview import cards_html, evidence_legend
from mdrcds.web.discovery import SERVICES
from mdrcds.web.html import attr, notice, page
from mdrcds.web.pagehttp import (
    FormError,
    date_field,
    files_of,
    hook_field,
    html_response,
    read_form,
    text_field,
)
from mdrcds.web.samples import golden_cases_by_rule, sample_title, samples

if TYPE_CHECKING:
    from mdrcds.web.cdsservice import Service

SHOWN_JSON_CHARACTERS = 200_000


@dataclass(frozen=True)
class ReviewInput:
    """What the person asked to evaluate."""

    label: str
    data: bytes
    hook: str
    now: date


def review_form(service: Service, chosen: ReviewInput | None = None, preselect: str | None = None) -> str:
    names = samples(service.settings.samples_dir)
    default = preselect if preselect in names else "mdr1-pembrolizumab-verapamil-order-select"
    selected = chosen.label if chosen and chosen.label in names else default
    options = '<option value="">(none: use the text or file below)</option>' + _sample_options(
        service, names, selected
    )
    hook = chosen.hook if chosen else _sample_hook(service, selected) or "order-select"
    hooks = "".join(f"<option{' selected' if h == hook else ''}>{h}</option>" for h in HOOKS)
    # empty: a sample is evaluated at its own date (examples do not age), anything else today
    now = chosen.now.isoformat() if chosen else ""
    return (
        '<form class="panel" method="post" action="/pages/review" enctype="multipart/form-data">'
        f'<label for="sample">Sample (synthetic)</label><select id="sample" name="sample">{options}</select>'
        '<label for="text">or paste a CDS Hooks request, a FHIR Bundle or NDJSON (one patient)</label>'
        '<textarea id="text" name="text" spellcheck="false"></textarea>'
        '<label for="file">or upload a file</label><input id="file" type="file" name="file" '
        'accept=".json,.ndjson,application/json,application/fhir+json">'
        '<div class="row"><div><label for="hook">Hook (for Bundles and NDJSON)</label>'
        f'<select id="hook" name="hook">{hooks}</select></div>'
        '<div><label for="now">Now (evaluation date; empty: a sample at its own date, shown '
        "beside it)</label>"
        f'<input id="now" type="date" name="now" value="{now}">'
        '</div><div><button type="submit" id="evaluate">Evaluate</button></div></div></form>'
    )


def _sample_options(service: Service, names: tuple[str, ...], selected: str) -> str:
    """The samples grouped by rule (the rule's title), each by its readable title and whether it should
    fire; the folder name is the value. A sample that names no rule is under "Other samples"."""
    directory = service.settings.samples_dir
    assert directory is not None or not names
    by_rule = golden_cases_by_rule(directory)
    offered = set(names)
    groups: list[str] = []
    placed: set[str] = set()
    marked = False
    for rule in sorted(service.rulebook.rules, key=lambda r: r.title):
        cases = sorted(
            (c for c in by_rule.get(rule.id, []) if c[0] in offered), key=lambda c: (not c[1], c[0])
        )
        if not cases:
            continue
        items = []
        for name, fires in cases:
            mark = not marked and name == selected
            marked = marked or mark
            placed.add(name)
            title = sample_title(directory, name) if directory else name
            items.append(
                f'<option value="{attr(name)}"{" selected" if mark else ""}>'
                f"{'should fire' if fires else 'should not fire'}: {escape(title)}"
                f"{_at_date(directory, name)}</option>"
            )
        groups.append(f'<optgroup label="{attr(rule.title)}">{"".join(items)}</optgroup>')
    others = [name for name in names if name not in placed]
    if others:
        rest = "".join(
            f'<option value="{attr(name)}"{" selected" if name == selected and not marked else ""}>'
            f"{escape(sample_title(directory, name) if directory else name)}"
            f"{_at_date(directory, name)}</option>"
            for name in others
        )
        groups.append(f'<optgroup label="Other samples">{rest}</optgroup>')
    return "".join(groups)


@lru_cache(maxsize=1024)
def _at_date(directory: Path | None, name: str) -> str:
    """' (at 2026-11-23)': the date a sample is evaluated at when the date field is left empty."""
    stated = stated_now(directory / name / "request.json") if directory else None
    return f" (at {stated.isoformat()})" if stated else ""


def _sample_hook(service: Service, name: str) -> str | None:
    """The hook a sample's request names, so that the selector follows the request."""
    if service.settings.samples_dir is None:
        return None
    try:
        hook = orjson.loads((service.settings.samples_dir / name / "request.json").read_bytes()).get("hook")
    except (OSError, orjson.JSONDecodeError, AttributeError):
        return None
    return hook if hook in HOOKS else None


async def show_form(service: Service, user: str, sample: str | None = None) -> Response:
    """GET /pages/review (?sample=NAME preselects a golden case, as the rule pages link it)."""
    body = review_form(service, preselect=sample) + '<p class="muted">Pick a sample and press Evaluate.</p>'
    return html_response(page("Card review", body, user=user, active="/pages/review"))


async def evaluate_form(service: Service, request: Request, user: str) -> Response:
    """POST /pages/review."""
    try:
        chosen = await _review_input(service, request)
    except FormError as exc:
        body = notice(str(exc)) + review_form(service)
        return html_response(page("Card review", body, user=user, active="/pages/review"), exc.status)
    try:
        fhir_input = await service.pools.run(service.pools.reading, lambda: _read(chosen))
    except (InputError, RequestError) as exc:
        body = notice(f"This input cannot be evaluated: {_first_line(exc)}") + review_form(service, chosen)
        return html_response(page("Card review", body, user=user, active="/pages/review"), 400)
    return await _evaluate(service, chosen, fhir_input, user)


async def _review_input(service: Service, request: Request) -> ReviewInput:
    form = await read_form(request, service.settings.max_body_bytes)
    hook = hook_field(form)
    now_given = text_field(form, "now", 40)
    now = date_field(form, "now", service.today())
    files = files_of(form, "file")
    text = text_field(form, "text", service.settings.max_body_bytes)
    sample = text_field(form, "sample", 200)
    if files:
        name, data = files[0]
        return ReviewInput(Path(name).name, data, hook, now)
    if text.strip():
        return ReviewInput("pasted input", text.encode(), hook, now)
    if sample:
        if sample not in samples(service.settings.samples_dir):
            raise FormError(400, f"no sample named {sample!r}")
        assert service.settings.samples_dir is not None
        request_file = service.settings.samples_dir / sample / "request.json"
        if not now_given:
            now = stated_now(request_file) or now
        return ReviewInput(sample, request_file.read_bytes(), hook, now)
    raise FormError(400, "choose a sample, paste a request or Bundle, or upload a file")


def _read(chosen: ReviewInput) -> FhirInput:
    try:
        return read_bytes(chosen.data, source=chosen.label, default_hook=chosen.hook)
    except InputFormatError:
        lines = (line for line in io.BytesIO(chosen.data) if line.strip())
        if len(list(itertools.islice(lines, 2))) < 2:
            raise
    problems: list[ReadProblem] = []
    patients = ndjson_records(chosen.data, chosen.label, problems, max_problems=1)
    if problems:
        raise InputFormatError(f"{problems[0].source}: {problems[0].message}")
    if len(patients) != 1:
        raise InputFormatError(
            f"{chosen.label}: NDJSON with {len(patients)} patients; card review shows one patient "
            "(the rule-testing page takes many)"
        )
    return read_bytes(patients[0].document, source=chosen.label, default_hook=chosen.hook)


async def _evaluate(service: Service, chosen: ReviewInput, fhir_input: FhirInput, user: str) -> Response:
    cds = next(s for s in SERVICES.values() if s.hook == fhir_input.hook)
    notes = []
    if fhir_input.hook != chosen.hook and fhir_input.prefetch_keys:
        notes.append(f"The request says hook {fhir_input.hook}; that hook was used.")
    fhir_input.hook_instance = str(uuid.uuid4())
    state = CallState()
    state.read(fhir_input)
    started = time.perf_counter()
    resources_read = fhir_input.resource_count
    status, error = 200, None
    why = ""
    try:
        evaluation = await service.engine_thread.run(lambda: service.evaluate(fhir_input, state, chosen.now))
        state.cards, state.silent = evaluation.cards, evaluation.silent_rule_ids
        state.patient = state.patient or evaluation.patient_id
        why = _why_html(service, evaluation, chosen.now)
    except InputFormatError as exc:
        status, error = 400, _first_line(exc)
    except (InputError, EngineError) as exc:
        status, error = 422, _first_line(exc)
    service.audit.record(service.invocation(cds, state, status, started))
    cards = state.cards
    response = {"cards": cards}
    # the form shows the hook that was used (a request names its own)
    body = [review_form(service, replace(chosen, hook=fhir_input.hook))]
    body += [notice(note, "ok") for note in notes]
    if error:
        body.append(notice(f"This input cannot be evaluated: {error}"))
    body.append(
        f'<p class="muted">{escape(chosen.label)}: {escape(fhir_input.hook)} at {chosen.now.isoformat()}, '
        f"{resources_read} resources read, {len(cards)} card(s); "
        f"hook instance <code>{escape(str(fhir_input.hook_instance))}</code>.</p>"
    )
    body.append(
        '<div class="split"><section id="cards"><h2>Cards</h2>'
        + evidence_legend()
        + cards_html(cards, cds.id, {rule.id: rule.evidence.grade for rule in service.rulebook.rules})
        + '</section><section><h2>Request</h2><pre id="request-json">'
        + escape(_pretty(chosen.data))
        + '</pre><h2>Response</h2><pre id="response-json">'
        + escape(orjson.dumps(response, option=orjson.OPT_INDENT_2).decode()[:SHOWN_JSON_CHARACTERS])
        + "</pre></section></div>"
    )
    body.append(why)
    # An input the service answers with an error is a 4xx here too, with the page that says why.
    return html_response(page("Card review", "\n".join(body), user=user, active="/pages/review"), status)


def _why_html(service: Service, evaluation: Evaluation, now: date) -> str:
    """ "Why / why not" per rule of this hook: each pattern's matched facts, or its nearest miss and the
    failed conditions (mdrcds.research.explain, the same view as `mdrcds explain`)."""
    parts = ['<section id="why"><h2>Why / why not, per rule</h2>']
    for rule in service.rulebook.rules:
        if evaluation.hook not in rule.hooks or rule.status == "retired":
            continue
        if rule.mode == "research" and not service.settings.research_rules:
            continue
        explanation = explain(rule, evaluation, service.rulebook, now)
        verdict = "fired" if explanation.fired else "did not fire"
        parts.append(
            f'<details data-rule="{attr(rule.id)}"><summary>{escape(rule.title)}: {verdict}</summary>'
            f"<pre>{escape(explanation.text())}</pre></details>"
        )
    parts.append("</section>")
    return "".join(parts)


async def send_feedback(service: Service, request: Request, user: str) -> Response:
    """POST /pages/feedback: one CDS Hooks feedback item through the service's own feedback path."""
    try:
        form = await read_form(request, 64 * 1024)
        service_id = text_field(form, "service", 200)
        cds = SERVICES.get(service_id)
        if cds is None:
            raise FormError(400, f"no CDS service {service_id!r}")
        document = _feedback_document(
            service,
            form_values=dict(
                card=text_field(form, "card", 200),
                outcome=text_field(form, "outcome", 40),
                reason=text_field(form, "reason", 200),
                comment=text_field(form, "comment", 2000),
                suggestion=text_field(form, "suggestion", 200),
            ),
        )
        received = await service.accept_feedback(document, cds)
    except FormError as exc:
        return _feedback_page(notice(str(exc)), user, exc.status)
    except NotIssued as exc:
        return _feedback_page(notice(f"The feedback was refused: {exc}"), user, 422)
    except RequestError as exc:
        return _feedback_page(notice(f"The feedback was refused: {exc}"), user, 400)
    sent = escape(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode())
    body = (
        notice(f"Feedback sent to {cds.id}: {received} item recorded.", "ok")
        + f'<h2>The feedback call</h2><pre id="feedback-json">{sent}</pre>'
        + '<p><a class="button" href="/pages/review">Review more cards</a> '
        + '<a class="button" href="/pages/governance">Governance</a></p>'
    )
    return _feedback_page(body, user, 200)


def _feedback_document(service: Service, form_values: dict[str, str]) -> dict[str, Any]:
    item: dict[str, Any] = {
        "card": form_values["card"],
        "outcome": form_values["outcome"],
        "outcomeTimestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if form_values["outcome"] == "overridden":
        code = form_values["reason"]
        display = service.rulebook.override_reasons.get(code)
        if display is None:
            raise FormError(400, "choose one of the card's override reasons")
        reason: dict[str, Any] = {
            "reason": {"system": OVERRIDE_REASON_SYSTEM, "code": code, "display": display}
        }
        if form_values["comment"].strip():
            reason["userComment"] = form_values["comment"].strip()
        item["overrideReason"] = reason
    elif form_values["outcome"] == "accepted":
        item["acceptedSuggestions"] = [{"id": form_values["suggestion"]}]
    return {"feedback": [item]}


def _feedback_page(body: str, user: str, status: int) -> Response:
    return html_response(page("Feedback", body, user=user, active="/pages/review"), status)


def _pretty(data: bytes) -> str:
    try:
        return orjson.dumps(orjson.loads(data), option=orjson.OPT_INDENT_2).decode()[:SHOWN_JSON_CHARACTERS]
    except orjson.JSONDecodeError:
        return data[:SHOWN_JSON_CHARACTERS].decode("utf-8", errors="replace")


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:500]
