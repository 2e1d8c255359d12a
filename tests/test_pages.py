"""The pages without a browser: sign-in with a trusted issuer's JWT, cross-site posts, safe Markdown,
the governance figures from both databases, and the CDS contract left as it was."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

from mdrcds.knowledge.rulebook import Rulebook
from mdrcds.settings import Settings, TrustedIssuer
from mdrcds.store.database import Store
from mdrcds.store.governance import Period, figures
from mdrcds.store.records import FeedbackItem, InvocationRecord, IssuedCard
from mdrcds.web.app import create_app
from mdrcds.web.contract import openapi_document
from mdrcds.web.html import markdown
from service_support import ROOT, SigningKey, jwks, live_service, make_keys, token

ISSUER = "https://ehr.example.org"


@dataclass
class Live:
    base: str
    key: SigningKey


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    directory = tmp_path_factory.mktemp("pages")
    keys = make_keys()
    jwks_file = directory / "jwks.json"
    jwks_file.write_text(json.dumps(jwks(keys)))
    settings = Settings(
        database_url=f"sqlite:///{directory / 'db.sqlite3'}",
        auth="required",
        trusted_issuers={ISSUER: TrustedIssuer(jwks_file=jwks_file)},
        allowed_hosts=["127.0.0.1"],
        spool_dir=directory / "spool",
        pages=True,
    )
    with live_service(settings) as base:
        yield Live(base, keys["ES384"])


def sign_in(client: httpx.Client, live: Live, **claims: object) -> httpx.Response:
    jwt = token(live.key, ISSUER, f"{live.base}/pages/login", sub="dr.lee", **claims)  # type: ignore[arg-type]
    return client.post("/pages/login", data={"token": jwt})


def test_pages_need_a_sign_in_with_a_trusted_issuers_token(live: Live) -> None:
    with httpx.Client(base_url=live.base) as client:
        answer = client.get("/pages/review")
        assert answer.status_code == 303 and answer.headers["location"] == "/pages/login"
        # The sign-in page names the audience a token must carry.
        assert f"<code>{live.base}/pages/login</code>" in client.get("/pages/login").text
        assert client.post("/pages/review", data={"sample": "x"}).status_code == 401
        signed_in = sign_in(client, live)
        assert signed_in.status_code == 303
        cookie = signed_in.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/pages" in cookie
        page = client.get("/pages/review")
        assert page.status_code == 200 and "dr.lee" in page.text and "sign out" in page.text
        assert "script-src" not in page.headers["content-security-policy"]
        assert "default-src 'none'" in page.headers["content-security-policy"]
        # Signing out is a POST: a GET (a link or an image on another page) only offers the button.
        assert client.get("/pages/logout").status_code == 200
        assert client.get("/pages/review").status_code == 200
        foreign = client.post("/pages/logout", headers={"Origin": "https://evil.example"})
        assert foreign.status_code == 403 and client.get("/pages/review").status_code == 200
        assert client.post("/pages/logout").status_code == 303
        assert client.get("/pages/review").status_code == 303


def test_a_new_sign_in_ends_the_users_earlier_session(live: Live) -> None:
    with httpx.Client(base_url=live.base) as first, httpx.Client(base_url=live.base) as second:
        assert sign_in(first, live).status_code == 303
        assert first.get("/pages/review").status_code == 200
        assert sign_in(second, live).status_code == 303
        assert second.get("/pages/review").status_code == 200
        assert first.get("/pages/review").status_code == 303  # the earlier session ended


@pytest.mark.parametrize(
    ("audience", "claims", "replay"),
    [
        ("/pages/other", {}, False),  # minted for another URL
        ("/pages/login", {"lifetime": 7200}, False),  # longer than the maximum lifetime
        ("/pages/login", {}, True),  # the same token twice
    ],
)
def test_a_bad_sign_in_token_is_refused(
    live: Live, audience: str, claims: dict[str, int], replay: bool
) -> None:
    lifetime = claims.get("lifetime", 300)
    jwt = token(live.key, ISSUER, f"{live.base}{audience}", lifetime=lifetime, sub="dr.lee")
    with httpx.Client(base_url=live.base) as client:
        if replay:
            assert client.post("/pages/login", data={"token": jwt}).status_code == 303
            client.cookies.clear()
        answer = client.post("/pages/login", data={"token": jwt})
        assert answer.status_code == 401 and "Sign-in failed" in answer.text
        assert client.get("/pages/review").status_code == 303


def test_a_forged_session_cookie_is_not_a_session(live: Live) -> None:
    with httpx.Client(base_url=live.base, cookies={"mdrcds_pages": "guessed"}) as client:
        assert client.get("/pages/governance").status_code == 303


def test_a_form_posted_from_another_site_is_refused(live: Live) -> None:
    with httpx.Client(base_url=live.base) as client:
        assert sign_in(client, live).status_code == 303
        answer = client.post(
            "/pages/feedback",
            data={"service": "mdrcds-order-select", "card": "c", "outcome": "overridden", "reason": "x"},
            headers={"Origin": "https://evil.example"},
        )
        assert answer.status_code == 403


def test_governance_with_the_database_down_says_so(tmp_path: Path) -> None:
    # Nothing listens on port 1: every database call fails, the service still starts and answers.
    settings = Settings(
        database_url="postgresql+psycopg://nobody@127.0.0.1:1/none",
        auth="off",
        spool_dir=tmp_path / "spool",
        pages=True,
    )
    with live_service(settings) as base:
        answer = httpx.get(f"{base}/pages/governance", timeout=30)
        assert answer.status_code == 503 and "cannot be reached" in answer.text
        review = httpx.get(f"{base}/pages/review", timeout=30)
        # Open pages (authentication off) say so, and offer no sign-out.
        assert review.status_code == 200 and "authentication off" in review.text
        assert "sign out" not in review.text


def test_pages_are_off_by_default_and_outside_the_cds_contract(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}", auth="off", spool_dir=tmp_path)
    with live_service(settings) as base:
        assert httpx.get(f"{base}/pages/review").status_code == 404
    with_pages = create_app(Settings(auth="off", pages=True)).openapi()
    assert with_pages == openapi_document()
    assert not [path for path in with_pages["paths"] if path.startswith("/pages")]


@pytest.mark.parametrize(
    "text",
    [
        "<script>alert(1)</script>",
        '<img src=x onerror="alert(1)">',
        "[x](javascript:alert(1))",
        "[x](JaVaScRiPt:alert(1))",
        "[x](vbscript:msgbox(1))",
        "[x](data:text/html;base64,PHNjcmlwdD4=)",
        "![x](https://tracker.example/pixel.png)",
        '<a href="javascript:alert(1)">x</a>',
        "<iframe src=https://evil.example></iframe>",
        "<svg onload=alert(1)>",
    ],
)
def test_the_markdown_renderer_refuses_script(text: str) -> None:
    tags = Tags()
    tags.feed(markdown(f"Card detail {text} end"))
    # At most a plain https link (an image is shown as its link, never loaded); nothing that runs.
    assert {tag for tag, _ in tags.seen} <= {"p", "a"}, tags.seen
    for _, attrs in tags.seen:
        assert all(name == "href" and (value or "").startswith("https://") for name, value in attrs), attrs


class Tags(HTMLParser):
    """Every element the rendered HTML really holds (escaped text is not an element)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.seen.append((tag, attrs))


def test_the_markdown_renderer_keeps_what_cards_use() -> None:
    rendered = markdown(
        "**Evidence.** text\n\n- one\n\n1. Chen ML. [PubMed](https://pubmed.ncbi.nlm.nih.gov/1/)"
    )
    assert "<strong>Evidence.</strong>" in rendered and "<li>one</li>" in rendered
    assert '<a href="https://pubmed.ncbi.nlm.nih.gov/1/">PubMed</a>' in rendered


def test_governance_figures_from_the_database(database_url: str, rulebook: Rulebook) -> None:
    store = Store(database_url)
    store.migrate()
    day = datetime(2026, 11, 10, 9, tzinfo=UTC)
    rule, silent = "mdr1-inhibitor-with-immunotherapy", "proton-pump-inhibitor-with-checkpoint-inhibitor"
    records = [
        InvocationRecord(
            id=f"call-{n}",
            received_at=day + timedelta(days=n % 3),
            service="mdrcds-order-select",
            hook="order-select",
            hook_instance=f"h{n}",
            patient_id="p",
            status_code=200,
            latency_ms=1.0,
            rulebook_version="v",
            cards=[IssuedCard(f"card-{n}", rule, "info")],
            silent_rule_ids=[silent] if n < 2 else [],
        )
        for n in range(4)
    ]
    records.append(
        InvocationRecord("call-400", day, "mdrcds-order-select", "order-select", "h", None, 400, 1.0, "v")
    )
    store.write_invocations(records)
    reason = {"system": "s", "code": "risk-benefit-ratio", "display": "Risk/benefit"}
    store.write_feedback(
        [
            FeedbackItem("mdrcds-order-select", "card-0", "overridden", day, [], reason, "why"),
            FeedbackItem("mdrcds-order-select", "card-1", "overridden", day + timedelta(days=8), [], reason),
            FeedbackItem("mdrcds-order-select", "card-2", "accepted", day, ["s1"]),
            FeedbackItem("mdrcds-order-select", "card-3", "overridden", day - timedelta(days=60), [], reason),
            # Integrity: card-2 overridden twice and then accepted again counts once, as accepted (the
            # latest); a card never issued, and feedback sent to another service's endpoint, not at all.
            FeedbackItem("mdrcds-order-select", "card-2", "overridden", day + timedelta(hours=1), [], reason),
            FeedbackItem("mdrcds-order-select", "card-2", "overridden", day + timedelta(hours=2), [], reason),
            FeedbackItem("mdrcds-order-select", "card-2", "accepted", day + timedelta(hours=3), ["s1"]),
            FeedbackItem("mdrcds-order-select", "never-issued", "overridden", day, [], reason),
            FeedbackItem("mdrcds-patient-view", "card-1", "accepted", day + timedelta(days=9), ["s1"]),
        ]
    )
    period = Period(date(2026, 11, 1), date(2026, 12, 1))
    try:
        rows = store.governance(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
    finally:
        store.dispose()
    assert rows.invocations == {"order-select": 4}
    assert all(row[1].tzinfo is not None for row in rows.feedback)  # UTC-aware from both databases
    table = {f.rule_id: f for f in figures(rows, rulebook, period)}
    mdr1, ppi = table[rule], table[silent]
    assert (mdr1.shown, mdr1.accepted, mdr1.overridden) == (4, 1, 2)
    assert mdr1.override_rate == pytest.approx(2 / 3)
    assert mdr1.top_reasons() == [("Risk/benefit", 2)]
    assert (ppi.would_fire, ppi.eligible) == (2, 4) and ppi.would_fire_rate == 0.5
    assert [(b.isoformat(), o, t) for b, o, t in mdr1.series if t] == [
        ("2026-11-10", 1, 2),
        ("2026-11-18", 1, 1),
    ]
    assert sum(t for _, _, t in mdr1.series) == 3 and len(mdr1.series) == 30


BODIES = [
    (
        "multipart/form-data; boundary=x",
        b'--x\r\nContent-Disposition: form-data; name="text"\r\n\r\n{\r\n--x--',
    ),
    ("multipart/form-data; boundary=x", b"garbage without boundaries"),
    ("multipart/form-data", b"--x\r\n"),
    (
        "multipart/form-data; boundary=x",
        b'--x\r\nContent-Disposition: form-data; name="file"; filename="a.json"\r\n\r\n\xff\xfe\x00[[[\r\n--x--\r\n',
    ),
    ("application/x-www-form-urlencoded", b"text=%FF%FE&hook=order-select"),
    ("application/x-www-form-urlencoded", b"hook=no-such-hook&text=%7B%7D"),
    ("application/x-www-form-urlencoded", b"now=yesterday&text=%7B%7D"),
    ("application/x-www-form-urlencoded", b"sample=../../etc/passwd"),
    ("application/x-www-form-urlencoded", b"service=mdrcds-order-select&card=c&outcome=maybe"),
    ("application/x-www-form-urlencoded", b"service=nope&card=c&outcome=overridden&reason=x"),
    ("application/x-www-form-urlencoded", b"service=mdrcds-order-select&card=&outcome=accepted&suggestion="),
    ("application/x-www-form-urlencoded", b"expected=not+a+count&files=x"),
    ("application/x-www-form-urlencoded", b"expected=no-such-rule%3A+3"),
    ("application/json", b'{"text": "{}"}'),
    ("text/plain", bytes(range(256))),
    ("", b""),
]


@pytest.fixture(scope="module")
def open_pages(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    directory = tmp_path_factory.mktemp("open-pages")
    settings = Settings(
        database_url=f"sqlite:///{directory / 'db.sqlite3'}", auth="off", spool_dir=directory, pages=True
    )
    with live_service(settings) as base:
        yield base


@pytest.mark.parametrize("path", ["/pages/review", "/pages/testing", "/pages/feedback"])
def test_malformed_form_posts_get_a_page_that_says_why(open_pages: str, path: str) -> None:
    with httpx.Client(base_url=open_pages) as client:
        for content_type, body in BODIES:
            headers = {"Content-Type": content_type} if content_type else {}
            answer = client.post(path, content=body, headers=headers)
            assert 400 <= answer.status_code < 500, (path, content_type, body[:40], answer.status_code)
            assert answer.headers["content-type"].startswith("text/html"), (
                content_type,
                body[:40],
                answer.text[:300],
            )
            assert "Traceback" not in answer.text and 'class="notice error"' in answer.text


@pytest.mark.parametrize(
    "path",
    [
        "/pages/rules/%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        "/pages/governance?days=%3Cscript%3E&rule=%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        "/pages/governance?days=99999999999999999999999&rule=",
    ],
)
def test_hostile_addresses_are_answered_escaped(open_pages: str, path: str) -> None:
    answer = httpx.get(f"{open_pages}{path}")
    assert answer.status_code in (200, 404)
    assert "<script>" not in answer.text


@pytest.mark.parametrize("method", ["HEAD", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"])
@pytest.mark.parametrize(
    "path",
    [
        "/pages/review",
        "/pages/rules",
        "/cds-services",
        "/cds-services/mdrcds-order-select",
        "/healthz",
        "/nope",
    ],
)
def test_a_method_or_path_no_route_takes_is_an_operation_outcome(
    open_pages: str, method: str, path: str
) -> None:
    answer = httpx.request(method, f"{open_pages}{path}", timeout=30)
    assert answer.status_code in (404, 405), answer.status_code
    assert answer.headers["content-type"] == "application/fhir+json"
    if answer.status_code == 405:
        assert answer.headers["allow"]
    if method != "HEAD":
        assert answer.json()["resourceType"] == "OperationOutcome"


def test_an_input_the_service_refuses_is_a_4xx_page_on_review(open_pages: str) -> None:
    # Reads fine, but the order a rule would use fails FHIR validation: the service would answer 422.
    order = {
        "resourceType": "MedicationRequest",
        "id": "m1",
        "status": "active",
        "intent": "order",
        "subject": {"reference": "Patient/p"},
        "medicationCodeableConcept": {"text": "verapamil"},
        "authoredOn": "2026-13-45",
    }
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": order}]}
    answer = httpx.post(
        f"{open_pages}/pages/review", data={"text": json.dumps(bundle), "hook": "patient-view"}, timeout=30
    )
    assert answer.status_code == 422
    assert 'class="notice error"' in answer.text and "cannot be evaluated" in answer.text


def test_a_form_posted_through_dns_rebinding_is_refused(open_pages: str) -> None:
    # A page on evil.example that reached this service by DNS rebinding sends its own host in both the
    # Host and the Origin header: the request's host is not one this service is known by, so no.
    rebinding = {"Host": "evil.example", "Origin": "http://evil.example"}
    answer = httpx.post(f"{open_pages}/pages/review", data={"sample": "x"}, headers=rebinding, timeout=30)
    assert answer.status_code == 403
    port = open_pages.rsplit(":", 1)[1]
    own = {"Origin": f"http://127.0.0.1:{port}"}
    answer = httpx.post(f"{open_pages}/pages/review", data={"sample": "x"}, headers=own, timeout=30)
    assert answer.status_code != 403


def test_card_review_uses_the_sample_date_and_says_why_per_rule(open_pages: str) -> None:
    """A sample is evaluated at its own date when the date field is left empty (examples do not age),
    and the page explains, per rule, why it fired or not."""
    sample = "exposure-pembrolizumab-given-12-days-ago-verapamil-order-select"
    with httpx.Client(base_url=open_pages, timeout=30) as client:
        page = client.post("/pages/review", data={"sample": sample, "hook": "order-select", "now": ""})
        assert page.status_code == 200
        assert "order-select at 2026-11-23" in page.text
        assert 'data-rule="mdr1-inhibitor-with-immunotherapy"' in page.text
        assert "MDR1 (P-glycoprotein) inhibitor with immunotherapy: fired" in page.text
        later = client.post(
            "/pages/review", data={"sample": sample, "hook": "order-select", "now": "2027-03-01"}
        )
        assert "order-select at 2027-03-01" in later.text
        assert "MDR1 (P-glycoprotein) inhibitor with immunotherapy: did not fire" in later.text
        assert "not current on 2027-03-01" in later.text


def test_rule_pages_link_golden_cases_to_card_review_and_show_evidence_badges(open_pages: str) -> None:
    with httpx.Client(base_url=open_pages, timeout=30) as client:
        catalogue = client.get("/pages/rules").text
        assert 'class="evidence preclinical"' in catalogue and "Evidence grades" in catalogue
        rule = client.get("/pages/rules/mdr1-inhibitor-with-immunotherapy").text
        assert 'class="evidence preclinical"' in rule
        assert 'href="/pages/review?sample=mdr1-pembrolizumab-verapamil-order-select"' in rule
        assert "should fire" in rule and "should not fire" in rule
        form = client.get("/pages/review?sample=steroid-dexamethasone-nivolumab-order-sign").text
        assert '<option value="steroid-dexamethasone-nivolumab-order-sign" selected>' in form
        assert "<option selected>order-sign</option>" in form  # the selector follows the sample's request
        assert "mdr1-r5-codeablereference" not in form  # the service reads R4: R5 samples are not offered
        # samples grouped by rule, with readable titles and what each should do
        assert '<optgroup label="MDR1 (P-glycoprotein) inhibitor with immunotherapy">' in form
        # each with the date it is evaluated at when the date field is left empty (its own)
        assert (
            ">should fire: Pembrolizumab selected while verapamil is active (order-select) (at 2026-11-23)"
            "</option>" in form
        )
        assert 'name="now" value=""' in form and "empty: a sample at its own date, shown beside it" in form
        assert ">should not fire: " in form
        review = client.post(
            "/pages/review",
            data={"sample": "mdr1-pembrolizumab-verapamil-order-select", "hook": "patient-view"},
        )
        assert "<option selected>order-select</option>" in review.text  # the hook that was used
        assert 'class="evidence preclinical"' in review.text


def test_governance_csv_neutralises_formulas_from_ehr_text() -> None:
    from datetime import date

    from mdrcds.store.governance import Period, RuleFigures
    from mdrcds.web.governanceview import governance_csv

    figure = RuleFigures("r", '=HYPERLINK("x")', "active", "info", "preclinical", shown=1, overridden=1)
    figure.reasons["@SUM(A1)"] += 1
    text = governance_csv([figure], Period(date(2026, 11, 1), date(2026, 12, 1)))
    assert "'=HYPERLINK" in text and "'@SUM(A1) (1)" in text


def test_rule_testing_takes_the_repositorys_own_samples_and_keeps_the_form(open_pages: str) -> None:
    synthea = sorted((ROOT / "fhir_samples" / "synthea").glob("*.json"))
    assert sum(path.stat().st_size for path in synthea) > 10 * 1024 * 1024  # over the CDS body limit
    files = [("files", (path.name, path.read_bytes(), "application/json")) for path in synthea]
    with httpx.Client(base_url=open_pages, timeout=120) as client:
        run = client.post("/pages/testing", files=files, data={"hook": "patient-view", "now": "2026-11-23"})
        assert run.status_code == 200, run.text[:500]
        assert f"Results: {len(synthea)} patients and cases" in run.text
        assert "Evaluated at 2026-11-23 for patient-view" in run.text
        # a bad expected-count line: the error names it, and the form keeps what was typed
        kept = client.post(
            "/pages/testing",
            files=files[:1],
            data={"hook": "order-sign", "now": "2026-10-01", "expected": "no-such-rule: 3"},
        )
        assert kept.status_code == 400
        assert "no-such-rule: 3</textarea>" in kept.text
        assert "<option selected>order-sign</option>" in kept.text and 'value="2026-10-01"' in kept.text
        case = (
            "name: a case for a rule this server lacks\nnow: 2026-11-23\ndata: []\n"
            "expect:\n  - rule: a-draft-rule-not-on-this-server\n    fired: true\n"
        )
        unknown = client.post(
            "/pages/testing", files=[("files", ("case.yaml", case.encode(), "application/x-yaml"))]
        )
        assert unknown.status_code == 200
        top = unknown.text.index("a-draft-rule-not-on-this-server")
        assert top < unknown.text.index('id="run-tests"')  # said at the top, before the form
        assert "rulebook does not have" in unknown.text
