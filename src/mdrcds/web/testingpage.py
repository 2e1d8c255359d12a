"""Rule testing: upload Bundles, NDJSON or YAML test cases; see how often each rule fired against what
was expected, each patient's cards, each case's expected-versus-actual differences, and coverage."""

from __future__ import annotations

from datetime import date
from html import escape
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response

from mdrcds.errors import MdrcdsError, RuleLoadError
from mdrcds.knowledge.rulebook import with_draft_rule
from mdrcds.reading.fhir import HOOKS
from mdrcds.research.draftrun import DraftSlotsFull, run_with_draft
from mdrcds.research.ruletesting import (
    RuleRow,
    Subject,
    TestingInputError,
    TestingRun,
    Upload,
    parse_expected_counts,
    run_uploads,
)
from mdrcds.web.cardview import cards_html
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

if TYPE_CHECKING:
    from mdrcds.web.cdsservice import Service

TITLE = "Rule testing"


def testing_form(
    service: Service, expected: str = "", hook: str = "patient-view", now: date | None = None
) -> str:
    """The upload form, keeping what was typed (expected counts, hook, date) after a run or an error."""
    hooks = "".join(f"<option{' selected' if h == hook else ''}>{h}</option>" for h in HOOKS)
    return (
        '<form class="panel" method="post" action="/pages/testing" enctype="multipart/form-data">'
        '<label for="files">Bundles (.json), Bulk Data NDJSON (.ndjson) or test cases (.yaml)</label>'
        '<input id="files" type="file" name="files" multiple accept=".json,.ndjson,.yaml,.yml">'
        '<label for="expected">Expected patients per rule (optional, one "rule-id: number" a line; '
        "test cases carry their own expectations)</label>"
        f'<textarea id="expected" name="expected" rows="3">{escape(expected)}</textarea>'
        '<label for="draft">Draft rule (optional, one rule file .yaml): linted, then evaluated with the '
        "rulebook for this run only; a draft with a rule's id replaces that rule for the run</label>"
        '<input id="draft" type="file" name="draft" accept=".yaml,.yml">'
        '<div class="row"><div><label for="hook">Hook (for Bundles and NDJSON)</label>'
        f'<select id="hook" name="hook">{hooks}</select></div>'
        '<div><label for="now">Now</label>'
        f'<input id="now" type="date" name="now" value="{(now or service.today()).isoformat()}"></div>'
        '<div><button type="submit" id="run-tests">Run</button></div></div>'
        f'<p class="muted">At most {service.settings.pages_max_patients} patients and cases, '
        f"{service.settings.pages_max_upload_bytes:,} bytes per upload; research-mode and silent rules are "
        "included. A draft rule uses this server's value sets and citations and is never added to its "
        "rulebook. For whole populations use <code>mdrcds batch</code>.</p></form>"
    )


async def show_form(service: Service, user: str) -> Response:
    return html_response(page(TITLE, testing_form(service), user=user, active="/pages/testing"))


async def run_form(service: Service, request: Request, user: str) -> Response:
    """POST /pages/testing."""
    expected_text, hook, now_kept = "", "patient-view", None
    rulebook, draft, drafts = service.rulebook, None, []
    try:
        form = await read_form(request, service.settings.pages_max_upload_bytes)
        expected_text = text_field(form, "expected")
        hook = hook_field(form)
        now = date_field(form, "now", service.today())
        now_kept = now
        drafts = files_of(form, "draft")
        if len(drafts) > 1:
            raise FormError(400, "upload one draft rule at a time")
        if drafts:
            # up to 4 MiB of YAML to parse and lint: not on the event loop
            name, data = drafts[0]
            rulebook, draft = await service.pools.run(
                service.pools.reading, lambda: with_draft_rule(service.rulebook, data, name)
            )
        expected = parse_expected_counts(expected_text, rulebook)
        uploads = [Upload(name, data) for name, data in files_of(form, "files")]
        if not uploads:
            raise FormError(400, "choose one or more files to run")
        limit = service.settings.pages_max_patients
        if draft is None:
            run = await service.engine_thread.run(
                lambda: run_uploads(
                    uploads, service.rulebook, service.engine, now=now, hook=hook, max_subjects=limit
                )
            )
        else:
            with service.draft_slots.take(service.settings.pages_draft_runs):
                run = await run_with_draft(
                    rulebook,
                    uploads,
                    now=now,
                    hook=hook,
                    max_subjects=limit,
                    seconds=service.settings.pages_draft_seconds,
                )
    except FormError as exc:
        return _error(service, user, notice(str(exc)), exc.status, expected_text, hook, now_kept)
    except RuleLoadError as exc:
        return _error(
            service, user, _lint_html(drafts[0][0], exc.problems), 422, expected_text, hook, now_kept
        )
    except TestingInputError as exc:
        return _error(service, user, notice(str(exc)), 400, expected_text, hook, now_kept)
    except DraftSlotsFull as exc:
        return _error(service, user, notice(str(exc)), 503, expected_text, hook, now_kept)
    except MdrcdsError as exc:
        message = notice(f"the upload could not be run: {exc}")
        return _error(service, user, message, 422, expected_text, hook, now_kept)
    known = {rule.id for rule in rulebook.rules}
    unknown = sorted({rule for s in run.subjects for rule in s.expected if rule not in known})
    warnings = "".join(
        notice(
            f"A test case names the rule {rule!r}, which this server's rulebook does not have "
            f"({service.rulebook.meta.name} {service.rulebook.version}): its expectations cannot pass."
        )
        for rule in unknown
    )
    used = (
        f'<p class="muted" id="run-facts">Evaluated at {now.isoformat()} for {escape(hook)} '
        "(test cases use their own date and hook).</p>"
    )
    if draft is not None:
        replaced = any(rule.id == draft.id for rule in service.rulebook.rules)
        used += (
            f'<p id="draft-used">Draft rule <code>{escape(draft.id)}</code> '
            f"({escape(draft.title)}) passed the linter and was evaluated for this run only"
            f"{', in place of the rulebook rule with its id' if replaced else ''}; the server's rulebook "
            f"({escape(service.rulebook.meta.name)} {escape(service.rulebook.version)}) is unchanged. "
            "Upload it again with the next run to keep trying it.</p>"
        )
    body = (
        warnings
        + testing_form(service, expected_text, hook, now)
        + used
        + results_html(run, run.rows(rulebook, expected))
    )
    return html_response(page(TITLE, body, user=user, active="/pages/testing"))


def _error(
    service: Service, user: str, message: str, status: int, expected: str, hook: str, now: date | None = None
) -> Response:
    """The form again, kept as it was, below `message` (HTML)."""
    body = message + testing_form(service, expected, hook, now)
    return html_response(page(TITLE, body, user=user, active="/pages/testing"), status)


def _lint_html(name: str, problems: list[str]) -> str:
    """The linter's findings on a draft rule, inline above the form; nothing was run."""
    items = "".join(f"<li><code>{escape(problem)}</code></li>" for problem in problems)
    return (
        f'<div class="notice error" id="draft-lint" role="alert"><p>The draft rule {escape(name)} was not '
        f"run: the linter found {len(problems)} problem{'s' if len(problems) != 1 else ''}. Fix "
        f"{'them' if len(problems) != 1 else 'it'} and upload it again (your other files must be chosen "
        f"again too).</p><ul>{items}</ul></div>"
    )


def results_html(run: TestingRun, rows: list[RuleRow]) -> str:
    parts = [f"<h2>Results: {len(run.subjects)} patients and cases</h2>"]
    parts += [notice(problem) for problem in run.read_problems[:50]]
    if len(run.read_problems) > 50:
        parts.append(notice(f"... and {len(run.read_problems) - 50} more problems"))
    cases = [s for s in run.subjects if s.kind == "case"]
    if cases:
        passed = sum(1 for s in cases if s.passed)
        parts.append(f'<p id="case-summary">{passed} of {len(cases)} test cases passed.</p>')
    parts.append(
        '<div class="scroll"><table id="rule-results" class="stack"><thead><tr><th>rule</th><th>fired</th>'
        "<th>expected</th><th></th><th>coverage (cases expecting fire / no fire)</th></tr></thead><tbody>"
    )
    for row in rows:
        verdict = {
            None: "",
            True: '<span class="pass">as expected</span>',
            False: '<span class="fail">differs</span>',
        }[row.matches]
        expected = "not stated" if row.expected is None else f"expected {row.expected}"
        coverage = "covered" if row.covered else "not covered"
        parts.append(
            f'<tr data-rule="{attr(row.rule_id)}"><td><code>{escape(row.rule_id)}</code></td>'
            f'<td class="fired">rule {escape(row.rule_id)} fired for {row.fired} of {row.total} patients</td>'
            f'<td data-label="expected">{expected}</td><td>{verdict}</td>'
            f'<td data-label="coverage">{coverage} ({row.expected_not} expecting no card)</td></tr>'
        )
    parts.append("</tbody></table></div><h2>Per patient and case</h2>")
    parts += [_subject_html(subject) for subject in run.subjects]
    return "\n".join(parts)


def _subject_html(subject: Subject) -> str:
    if subject.error:
        state = f'<span class="fail">not evaluated: {escape(subject.error)}</span>'
    elif subject.passed is None:
        state = f"{len(subject.cards)} card(s)"
    else:
        state = '<span class="pass">passed</span>' if subject.passed else '<span class="fail">failed</span>'
    diff = ""
    if subject.expected:
        lines = "".join(
            f"<tr><td><code>{escape(rule)}</code></td><td>{'fires' if want else 'does not fire'}</td>"
            f"<td>{'fires' if rule in subject.fired else 'does not fire'}</td></tr>"
            for rule, want in subject.expected.items()
        )
        extra = "".join(
            f"<tr><td><code>{escape(rule)}</code></td><td>not stated</td><td>fires</td></tr>"
            for rule in sorted(subject.fired - set(subject.expected))
        )
        diff = (
            '<table class="diff"><thead><tr><th>rule</th><th>expected</th><th>actual</th></tr></thead>'
            f"<tbody>{lines}{extra}</tbody></table>"
        )
    problems = "".join(f"<li>{escape(problem)}</li>" for problem in subject.problems)
    return (
        f'<details class="subject" data-passed="{attr(subject.passed)}"><summary>{escape(subject.name)}: '
        f"{state}</summary>{diff}{f'<ul>{problems}</ul>' if problems else ''}"
        f"{cards_html(subject.cards, None)}</details>"
    )
