"""The pages (MDRCDS_PAGES=true): card review, rule catalogue, rule testing and governance, served
server-rendered from the service's own app, outside the CDS Hooks contract (not in openapi.json).

Each handler finds who is asking (`mdrcds.web.pagesauth`), refuses form posts from other sites, and
answers HTML: input it cannot use gets a 4xx page that says why, never a traceback.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from html import escape
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from starlette.responses import RedirectResponse, Response

from mdrcds.knowledge.ruledocs import rule_page
from mdrcds.store.database import StoreUnavailable
from mdrcds.store.governance import Period, RuleFigures, figures
from mdrcds.web import reviewpage, testingpage
from mdrcds.web.cardview import evidence_badge, evidence_legend
from mdrcds.web.cdsservice import Service
from mdrcds.web.governanceview import PERIODS, governance_csv, governance_html
from mdrcds.web.html import STYLESHEET, attr, markdown, notice, page
from mdrcds.web.pagehttp import FormError, html_response, read_form, same_origin, text_field
from mdrcds.web.pagesauth import NotSignedIn, PageSessions
from mdrcds.web.samples import golden_cases_by_rule

Handler = Callable[[Service, str], Awaitable[Response]]


def _service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def _sessions(request: Request) -> PageSessions:
    sessions: PageSessions = request.app.state.page_sessions
    return sessions


async def _as_user(request: Request, handler: Handler) -> Response:
    """Run `handler` for the signed-in user; others are sent to sign in, foreign form posts refused."""
    service = _service(request)
    try:
        user = await service.pools.run(service.pools.database, lambda: _sessions(request).user(request))
    except NotSignedIn:
        if request.method == "GET":
            return RedirectResponse("/pages/login", status_code=303)
        return html_response(page("Sign in", notice("Sign in first.") + _login_form(request)), 401)
    if request.method == "POST" and not same_origin(request, service.settings):
        return html_response(page("Refused", notice("This form was sent from another site.")), 403)
    return await handler(service, user)


def _login_form(request: Request) -> str:
    audience = _sessions(request).authentication.audience(request, "/pages/login")
    named = f" Its audience (<code>aud</code>) must be <code>{escape(audience)}</code>." if audience else ""
    return (
        '<form class="panel" method="post" action="/pages/login">'
        '<label for="token">Sign-in token</label>'
        '<p class="muted">A JWT from one of this service\'s trusted issuers, naming you in '
        f"<code>sub</code>.{named}</p>"
        '<textarea id="token" name="token" rows="4" required spellcheck="false"></textarea>'
        '<button type="submit">Sign in</button></form>'
    )


INDEX = """
<p>Pages for the people who decide whether a rule goes live, the clinicians who review its cards, and the
researchers who test it. They run on the same service, rules and database as the CDS Hooks API.</p>
<ul>
<li><a href="/pages/review">Card review</a>: evaluate a sample or your own request, Bundle or NDJSON and
see the cards as an EHR shows them; accept or dismiss them with a reason (real feedback).</li>
<li><a href="/pages/rules">Rule catalogue</a>: every rule with its evidence grade, citations, value sets,
golden cases, hooks and lifecycle status.</li>
<li><a href="/pages/testing">Rule testing</a>: upload Bundles, NDJSON or YAML test cases and compare what
fired with what you expected.</li>
<li><a href="/pages/governance">Governance</a>: cards shown, accepted and overridden per rule, override
reasons and rate over time, and the would-fire rate of silent rules.</li>
</ul>
"""


def catalogue_index(service: Service) -> str:
    rows = "".join(
        f'<tr data-rule="{attr(rule.id)}"><td><a href="/pages/rules/{attr(rule.id)}">{escape(rule.title)}</a>'
        f'<br><code>{escape(rule.id)}</code></td><td data-label="category">{escape(rule.category)}</td>'
        f'<td data-label="indicator"><span class="ind {attr(rule.indicator)}">'
        f"{escape(rule.indicator)}</span></td>"
        f'<td data-label="evidence">{evidence_badge(rule.evidence.grade)}</td>'
        f'<td data-label="hooks">{escape(", ".join(rule.hooks))}</td>'
        f'<td data-label="status"><span class="ind {attr(rule.status)}">{escape(rule.status)}</span></td>'
        f'<td data-label="mode">{escape(rule.mode)}</td></tr>'
        for rule in sorted(service.rulebook.rules, key=lambda r: (r.category, r.id))
    )
    return (
        f'<p class="muted">{escape(service.rulebook.meta.name)} {escape(service.rulebook.version)}; '
        "generated from the same rule files as <code>mdrcds rules docs</code>.</p>"
        + evidence_legend()
        + '<div class="scroll"><table id="catalogue" class="stack"><thead><tr><th>rule</th><th>category</th>'
        "<th>indicator</th><th>evidence</th><th>hooks</th><th>status</th><th>mode</th></tr></thead>"
        f"<tbody>{rows}</tbody></table></div>"
    )


def rule_html(service: Service, rule_id: str) -> str | None:
    try:
        rule = service.rulebook.rule(rule_id)
    except KeyError:
        return None
    # The page's own heading is the title: the generated page's comment and title line are dropped.
    lines = rule_page(rule, service.rulebook).splitlines()
    text = "\n".join(line for line in lines if not line.startswith(("<!--", f"# {rule.title}")))
    cases = golden_cases_by_rule(service.settings.samples_dir).get(rule.id, [])
    listed = "".join(
        f'<li><a href="/pages/review?sample={attr(quote(name))}"><code>{escape(name)}</code></a>: '
        f"{'should fire' if fires else 'should not fire'}</li>"
        for name, fires in cases
    )
    badges = (
        f'<p><span class="ind {attr(rule.indicator)}">{escape(rule.indicator)}</span> '
        f"{evidence_badge(rule.evidence.grade)}</p>"
    )
    return (
        badges
        + f'<div class="rule-doc">{markdown(text)}</div><h2>Golden cases ({len(cases)})</h2>'
        + (f'<ul id="golden-cases">{listed}</ul>' if listed else "<p>No golden case names this rule.</p>")
    )


def build_router() -> APIRouter:
    """The /pages routes; `mdrcds.web.app.create_app` mounts them when MDRCDS_PAGES is true."""
    router = APIRouter(prefix="/pages", include_in_schema=False)

    @router.get("/static/pages.css")
    async def stylesheet() -> Response:
        return Response(STYLESHEET, media_type="text/css", headers={"Cache-Control": "max-age=3600"})

    @router.get("")
    async def index(request: Request) -> Response:
        async def show(service: Service, user: str) -> Response:
            return html_response(page("mdrcds pages", INDEX, user=user))

        return await _as_user(request, show)

    @router.get("/login")
    async def login_form(request: Request) -> Response:
        if _sessions(request).open:
            return RedirectResponse("/pages", status_code=303)
        return html_response(page("Sign in", _login_form(request)))

    @router.post("/login")
    async def login(request: Request) -> Response:
        service = _service(request)
        if _sessions(request).open:
            return RedirectResponse("/pages", status_code=303)
        if not same_origin(request, service.settings):
            return html_response(page("Refused", notice("This form was sent from another site.")), 403)
        try:
            token = text_field(await read_form(request, 32 * 1024), "token", 16_384)
        except FormError as exc:
            return html_response(page("Sign in", notice(str(exc)) + _login_form(request)), exc.status)
        response = RedirectResponse("/pages", status_code=303)
        sessions = _sessions(request)
        if await service.pools.run(
            service.pools.identity, lambda: sessions.sign_in(request, token, response)
        ):
            return response
        return html_response(page("Sign in", notice("Sign-in failed.") + _login_form(request)), 401)

    @router.get("/logout")
    async def logout_form(request: Request) -> Response:
        # Signing out changes state, so it is a POST (a link or an image elsewhere cannot sign anyone
        # out); a GET only offers the button.
        form = (
            '<form class="panel" method="post" action="/pages/logout">'
            '<button type="submit" id="sign-out">Sign out</button></form>'
        )
        return html_response(page("Sign out", form))

    @router.post("/logout")
    async def logout(request: Request) -> Response:
        service = _service(request)
        if not same_origin(request, service.settings):
            return html_response(page("Refused", notice("This form was sent from another site.")), 403)
        response = RedirectResponse("/pages/login", status_code=303)
        sessions = _sessions(request)
        await service.pools.run(service.pools.database, lambda: sessions.sign_out(request, response))
        return response

    @router.get("/review")
    async def review(request: Request) -> Response:
        sample = request.query_params.get("sample")
        return await _as_user(request, lambda s, u: reviewpage.show_form(s, u, sample))

    @router.post("/review")
    async def review_post(request: Request) -> Response:
        return await _as_user(request, lambda s, u: reviewpage.evaluate_form(s, request, u))

    @router.post("/feedback")
    async def feedback(request: Request) -> Response:
        return await _as_user(request, lambda s, u: reviewpage.send_feedback(s, request, u))

    @router.get("/rules")
    async def rules(request: Request) -> Response:
        async def show(service: Service, user: str) -> Response:
            return html_response(
                page("Rule catalogue", catalogue_index(service), user=user, active="/pages/rules")
            )

        return await _as_user(request, show)

    @router.get("/rules/{rule_id}")
    async def rule(rule_id: str, request: Request) -> Response:
        async def show(service: Service, user: str) -> Response:
            body = rule_html(service, rule_id)
            if body is None:
                return html_response(page("No such rule", notice(f"No rule {rule_id!r}."), user=user), 404)
            title = service.rulebook.rule(rule_id).title
            return html_response(page(title, body, user=user, active="/pages/rules"))

        return await _as_user(request, show)

    @router.get("/testing")
    async def testing(request: Request) -> Response:
        return await _as_user(request, testingpage.show_form)

    @router.post("/testing")
    async def testing_post(request: Request) -> Response:
        return await _as_user(request, lambda s, u: testingpage.run_form(s, request, u))

    async def governance_figures(service: Service, days: str) -> tuple[int, Period, list[RuleFigures]]:
        """Raises StoreUnavailable when the database cannot answer."""
        # isdigit() is also true of '²' and other digits int() refuses: ASCII digits only.
        chosen_days = int(days) if days.isascii() and days.isdigit() and int(days) in PERIODS else 30
        period = Period.last_days(chosen_days, datetime.now(UTC).date())
        since = datetime(period.start.year, period.start.month, period.start.day, tzinfo=UTC)
        until = datetime(period.end.year, period.end.month, period.end.day, tzinfo=UTC)
        rows = await service.pools.run(service.pools.database, lambda: service.store.governance(since, until))
        return chosen_days, period, figures(rows, service.rulebook, period)

    @router.get("/governance.csv")
    async def governance_export(request: Request, days: Annotated[str, Query()] = "30") -> Response:
        async def export(service: Service, user: str) -> Response:
            try:
                chosen_days, period, table = await governance_figures(service, days)
            except StoreUnavailable:
                return Response("the database cannot be reached\n", status_code=503, media_type="text/plain")
            name = f"mdrcds-governance-{period.start.isoformat()}-{chosen_days}d.csv"
            return Response(
                governance_csv(table, period),
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": f'attachment; filename="{name}"'},
            )

        return await _as_user(request, export)

    @router.get("/governance")
    async def governance(
        request: Request, days: Annotated[str, Query()] = "30", rule: Annotated[str, Query()] = ""
    ) -> Response:
        async def show(service: Service, user: str) -> Response:
            try:
                chosen_days, period, table = await governance_figures(service, days)
            except StoreUnavailable:
                body = notice("The database cannot be reached: governance figures are not available now.")
                return html_response(page("Governance", body, user=user, active="/pages/governance"), 503)
            known = {r.rule_id for r in table}
            chosen = rule if rule in known else max(table, key=lambda r: (r.with_feedback, r.shown)).rule_id
            body = governance_html(table, period, chosen_days, chosen)
            return html_response(page("Governance", body, user=user, active="/pages/governance"))

        return await _as_user(request, show)

    return router
