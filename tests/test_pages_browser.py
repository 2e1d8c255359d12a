"""The pages in Debian's Chromium (Playwright), against the real service over HTTP and a real database.

The committee's path: open card review, evaluate a sample, see the MDR1 card, dismiss it with a coded
reason, and see the override counted on the governance page; a silent rule fires in the audit and
never in a response; hostile uploads get a clear message; card text cannot inject script; the pages
work at a phone's width. Every page is screenshotted to artifacts/screenshots/ (MDRCDS_SCREENSHOTS).
"""

from __future__ import annotations

import csv
import io
import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from conftest import ROOT
from mdrcds.settings import Settings
from mdrcds.store.database import Store
from rules_support import PPI_RULE, PPI_SAMPLE, rules_with_status
from service_support import SAMPLES, live_service, wait_for

MDR1_RULE = "mdr1-inhibitor-with-immunotherapy"
MDR1_SAMPLE = "mdr1-pembrolizumab-verapamil-order-select"
SCREENSHOTS = Path(os.environ.get("MDRCDS_SCREENSHOTS", ROOT / "artifacts" / "screenshots"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    assert path, "Chromium is needed (scripts/test installs Debian's chromium)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def settings_for(tmp_path: Path, database_url: str) -> Settings:
    # The PPI rule is silent here, as a committee trialling it would set it.
    rules = rules_with_status(tmp_path / "rules", PPI_RULE, "silent")
    return Settings(
        database_url=database_url, auth="off", spool_dir=tmp_path / "spool", pages=True, rules_dir=rules
    )


def override_mdr1_card(page: Page, base: str) -> None:
    page.goto(f"{base}/pages/review")
    page.select_option("#sample", MDR1_SAMPLE)
    page.select_option("#hook", "order-select")
    page.fill("#now", "2026-11-23")
    page.click("#evaluate")
    card = page.locator(f'article.card[data-rule="{MDR1_RULE}"]')
    expect(card).to_have_count(1)
    expect(card.locator("h3")).to_contain_text("verapamil")
    expect(card.locator(".ind")).to_have_text("info")
    expect(card.locator(".detail ol li").first).to_contain_text("PMID 32302378")
    expect(page.locator("#response-json")).to_contain_text(MDR1_RULE)
    shot(page, "card-review")
    card.locator("summary").click()
    card.locator("select[name=reason]").select_option("risk-benefit-ratio")
    card.locator("textarea[name=comment]").fill("Verapamil is needed for rate control.")
    card.locator("button[type=submit]", has_text="Dismiss").click()
    expect(page.locator(".notice.ok")).to_contain_text("1 item recorded")
    expect(page.locator("#feedback-json")).to_contain_text('"overridden"')
    shot(page, "feedback-sent")


def test_a_card_overridden_on_review_is_counted_on_the_governance_page(
    browser: Browser, tmp_path: Path, database_url: str
) -> None:
    settings = settings_for(tmp_path, database_url)
    with live_service(settings) as base:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        override_mdr1_card(page, base)
        store = Store(database_url)
        try:
            wait_for(lambda: any(row[2] == "overridden" for row in store.feedback_by_rule()))
        finally:
            store.dispose()
        page.goto(f"{base}/pages/governance?days=30&rule={MDR1_RULE}")
        row = page.locator(f'#governance tr[data-rule="{MDR1_RULE}"]')
        expect(row.locator(".shown")).to_have_text("1")
        expect(row.locator(".overridden")).to_have_text("1")
        expect(row.locator(".rate")).to_have_text("1 of 1 cards with feedback (100%)")
        expect(row.locator(".reasons")).to_contain_text("Recipient assessment of risk/benefit ratio (1)")
        expect(row.locator(".evidence")).to_have_text("preclinical evidence")
        expect(page.locator("#override-chart rect.bar")).to_have_count(1)
        shot(page, "governance")
        page.close()
        exported = httpx.get(f"{base}/pages/governance.csv?days=30", timeout=30)
        assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
        assert "attachment" in exported.headers["content-disposition"]
        rows = list(csv.DictReader(io.StringIO(exported.text)))
        [mdr1] = [r for r in rows if r["rule"] == MDR1_RULE]
        assert (mdr1["evidence"], mdr1["cards_shown"], mdr1["overridden"], mdr1["cards_with_feedback"]) == (
            "preclinical",
            "1",
            "1",
            "1",
        )


def test_a_silent_rule_fires_in_the_audit_and_never_in_a_response(
    browser: Browser, tmp_path: Path, database_url: str
) -> None:
    settings = settings_for(tmp_path, database_url)
    request = orjson.loads((PPI_SAMPLE / "request.json").read_bytes())
    with live_service(settings) as base:
        response = httpx.post(f"{base}/cds-services/mdrcds-order-select", json=request, timeout=30)
        assert response.status_code == 200
        assert PPI_RULE not in response.text
        store = Store(database_url)
        try:
            wait_for(lambda: len(store.invocations()) == 1)
            rows = store.governance(*_today_window())
        finally:
            store.dispose()
        assert rows.silent == {PPI_RULE: 1} and PPI_RULE not in rows.cards
        page = browser.new_page()
        page.goto(f"{base}/pages/governance?rule={PPI_RULE}")
        row = page.locator(f'#governance tr[data-rule="{PPI_RULE}"]')
        expect(row.locator(".ind").first).to_have_text("silent")
        expect(row.locator(".would")).to_have_text("1 of 1 calls (100%)")
        expect(row.locator(".shown")).to_have_text("0")
        shot(page, "governance-silent")
        # On the review page too the silent rule gives no card.
        page.goto(f"{base}/pages/review")
        page.select_option("#sample", PPI_SAMPLE.name)
        page.click("#evaluate")
        expect(page.locator(f'article.card[data-rule="{PPI_RULE}"]')).to_have_count(0)
        expect(page.locator("#response-json")).not_to_contain_text(PPI_RULE)
        page.goto(f"{base}/pages/rules/{PPI_RULE}")
        expect(page.locator("main")).to_contain_text("never returned")
        page.close()


def _today_window() -> tuple[datetime, datetime]:
    now = datetime.now(UTC)
    return now - timedelta(days=1), now + timedelta(days=1)


def test_the_catalogue_and_rule_testing_pages(browser: Browser, tmp_path: Path) -> None:
    settings = settings_for(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite3'}")
    case = tmp_path / "verapamil-case.yaml"
    case.write_text(
        "name: verapamil with pembrolizumab\nnow: 2026-11-23\nhook: patient-view\ndata:\n"
        "  - resourceType: MedicationRequest\n    status: active\n    intent: order\n"
        '    medicationCodeableConcept: "rxnorm#11170 verapamil"\n'
        "  - resourceType: MedicationRequest\n    status: active\n    intent: order\n"
        '    medicationCodeableConcept: "rxnorm#1547545 pembrolizumab"\n'
        f"expect:\n  - rule: {MDR1_RULE}\n    fired: true\n  - rule: {PPI_RULE}\n    fired: true\n"
    )
    bundle = SAMPLES / MDR1_SAMPLE / "request.json"
    with live_service(settings) as base:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{base}/pages/rules")
        expect(page.locator("#catalogue tbody tr")).to_have_count(17)
        shot(page, "rule-catalogue")
        page.click(f'a[href="/pages/rules/{MDR1_RULE}"]')
        main = page.locator("main")
        expect(main).to_contain_text("Evidence: preclinical")
        expect(main).to_contain_text("PMID 32302378")
        expect(main).to_contain_text("pgp-inhibitor")
        expect(page.locator("#golden-cases")).to_contain_text(MDR1_SAMPLE)
        shot(page, "rule-page")
        page.goto(f"{base}/pages/testing")
        page.set_input_files("#files", [str(case), str(bundle)])
        page.select_option("#hook", "order-select")
        page.fill("#expected", f"{MDR1_RULE}: 2")
        page.click("#run-tests")
        row = page.locator(f'#rule-results tr[data-rule="{MDR1_RULE}"]')
        expect(row.locator(".fired")).to_have_text(f"rule {MDR1_RULE} fired for 2 of 2 patients")
        expect(row).to_contain_text("as expected")
        expect(page.locator("#case-summary")).to_have_text("0 of 1 test cases passed.")
        failed = page.locator("details.subject", has_text="verapamil with pembrolizumab")
        failed.locator("summary").click()
        expect(failed.locator("table.diff")).to_contain_text(PPI_RULE)
        expect(failed).to_contain_text(f"rule {PPI_RULE}: expected a card, got none")
        expect(failed.locator(f'article.card[data-rule="{MDR1_RULE}"]')).to_have_count(1)
        shot(page, "rule-testing")
        page.close()


def test_a_draft_rule_tried_on_the_testing_page(browser: Browser, tmp_path: Path) -> None:
    """Upload a draft rule with a case: a lint error shows inline and keeps the form; the fixed draft
    fires for that run; the catalogue and the rules directory are unchanged afterwards."""
    from test_draft_rules import CASE, DRAFT, DRAFT_ID

    settings = settings_for(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite3'}")
    assert settings.rules_dir is not None
    before = {p: p.read_bytes() for p in sorted(settings.rules_dir.rglob("*")) if p.is_file()}
    case = tmp_path / "case.yaml"
    case.write_text(CASE)
    broken = tmp_path / "broken" / f"{DRAFT_ID}.yaml"
    broken.parent.mkdir()
    broken.write_text(DRAFT.replace("class: [checkpoint-inhibitor, car-t]", "class: checkpoint-inhibtor"))
    draft = tmp_path / f"{DRAFT_ID}.yaml"
    draft.write_text(DRAFT)
    with live_service(settings) as base:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{base}/pages/testing")
        page.set_input_files("#files", str(case))
        page.set_input_files("#draft", str(broken))
        page.fill("#now", "2026-10-01")
        page.click("#run-tests")
        expect(page.locator("#draft-lint")).to_contain_text("unknown value set 'checkpoint-inhibtor'")
        expect(page.locator("#now")).to_have_value("2026-10-01")
        page.set_input_files("#files", str(case))
        page.set_input_files("#draft", str(draft))
        page.click("#run-tests")
        expect(page.locator("#draft-used")).to_contain_text("evaluated for this run only")
        expect(page.locator("#case-summary")).to_have_text("1 of 1 test cases passed.")
        row = page.locator(f'#rule-results tr[data-rule="{DRAFT_ID}"]')
        expect(row.locator(".fired")).to_have_text(f"rule {DRAFT_ID} fired for 1 of 1 patients")
        shot(page, "rule-testing-draft")
        page.goto(f"{base}/pages/rules")
        expect(page.locator("#catalogue tbody tr")).to_have_count(17)
        expect(page.locator("#catalogue")).not_to_contain_text(DRAFT_ID)
        page.close()
    assert {p: p.read_bytes() for p in sorted(settings.rules_dir.rglob("*")) if p.is_file()} == before


HOSTILE = [
    ("binary.json", bytes(range(256)) * 4),
    ("deep.json", b"[" * 100_000),
    ("truncated.json", b'{"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Medic'),
    (
        "huge-number.json",
        b'{"resourceType": "Bundle", "type": "collection", "entry": [{"resource": {"resourceType": '
        b'"MedicationRequest", "id": "m", "status": "active", "intent": "order", "subject": {"reference": '
        b'"Patient/p"}, "medicationCodeableConcept": {"text": "verapamil"}, "dosageInstruction": '
        b'[{"doseAndRate": [{"doseQuantity": {"value": 1e400, "unit": "mg"}}]}]}}]}',
    ),
    ("not-fhir.json", b'{"hello": "world"}'),
    ("lines.ndjson", b'{"resourceType": "Patient"}\nnot json\n'),
    ("case.yaml", b"name: [unclosed\n"),
    ("case.yml", b"name: x\nnow: yesterday\n"),
]


@pytest.mark.parametrize(("name", "data"), HOSTILE, ids=[name for name, _ in HOSTILE])
def test_hostile_uploads_get_a_clear_message(
    browser: Browser, tmp_path: Path, name: str, data: bytes
) -> None:
    settings = settings_for(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite3'}")
    upload = tmp_path / name
    upload.write_bytes(data)
    with live_service(settings) as base:
        page = browser.new_page()
        for path, field, button in (("review", "#file", "#evaluate"), ("testing", "#files", "#run-tests")):
            page.goto(f"{base}/pages/{path}")
            page.set_input_files(field, str(upload))
            with page.expect_response(f"{base}/pages/{path}") as answer:
                page.click(button)
            status = answer.value.status
            text = page.locator("main").inner_text()
            assert "Traceback" not in text and "internal error" not in text
            if path == "review" or status != 200:
                assert 400 <= status < 500, (path, status)
                expect(page.locator(".notice.error").first).to_be_visible()
            else:  # a rule-testing run goes on past an unreadable file and says which one
                expect(
                    page.locator(".notice.error, details.subject[data-passed=False]").first
                ).to_be_visible()
        page.close()


def test_card_text_cannot_inject_script(browser: Browser, tmp_path: Path) -> None:
    settings = settings_for(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite3'}")
    request = orjson.loads((SAMPLES / MDR1_SAMPLE / "request.json").read_bytes())
    hostile = '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2"> [x](javascript:pwn())'
    for entry in request["prefetch"]["medicationRequests"]["entry"]:
        concept = entry["resource"].get("medicationCodeableConcept", {})
        if "verapamil" in orjson.dumps(concept).decode().lower():
            concept["text"] = f"verapamil {hostile}"
            for coding in concept.get("coding", []):
                coding["display"] = f"verapamil {hostile}"
    with live_service(settings) as base:
        page = browser.new_page()
        page.goto(f"{base}/pages/review")
        page.fill("#text", orjson.dumps(request).decode())
        page.select_option("#sample", "")
        page.click("#evaluate")
        card = page.locator(f'article.card[data-rule="{MDR1_RULE}"]')
        expect(card).to_have_count(1)
        expect(card.locator(".detail")).to_contain_text("<script>window.pwned = 1</script>")
        assert page.evaluate("window.pwned") is None
        assert page.locator("main script, main img, .detail a[href^=javascript]").count() == 0
        page.close()


def test_card_review_is_usable_at_a_phone_width(browser: Browser, tmp_path: Path) -> None:
    settings = settings_for(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite3'}")
    with live_service(settings) as base:
        page = browser.new_page(viewport={"width": 390, "height": 844})
        page.goto(f"{base}/pages/review")
        page.select_option("#sample", MDR1_SAMPLE)
        page.click("#evaluate")
        expect(page.locator(f'article.card[data-rule="{MDR1_RULE}"]')).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        shot(page, "card-review-narrow")
        page.close()


def no_horizontal_overflow(page: Page) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"))


def test_every_page_with_data_fits_a_phone(browser: Browser, tmp_path: Path) -> None:
    """At 390 px: the catalogue, every rule page (long reference URLs), governance after feedback, the
    rule-testing results and card review, all with data, scroll only down; tables become stacked rows."""
    settings = settings_for(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite3'}")
    with live_service(settings) as base:
        desk = browser.new_page(viewport={"width": 1280, "height": 900})
        override_mdr1_card(desk, base)
        desk.close()
        page = browser.new_page(viewport={"width": 390, "height": 844})
        page.goto(f"{base}/pages/rules")
        assert page.locator("#catalogue tr[data-rule]").count() == 17
        assert page.locator("#catalogue thead").is_hidden()  # stacked rows, each cell labelled
        assert no_horizontal_overflow(page), "catalogue"
        shot(page, "catalogue-narrow")
        for rule in page.locator("#catalogue tr[data-rule]").evaluate_all(
            "rows => rows.map(r => r.dataset.rule)"
        ):
            page.goto(f"{base}/pages/rules/{rule}")
            assert no_horizontal_overflow(page), rule
        page.goto(f"{base}/pages/governance?days=30&rule={MDR1_RULE}")
        expect(page.locator(f'#governance tr[data-rule="{MDR1_RULE}"] .overridden')).to_have_text("1")
        assert no_horizontal_overflow(page), "governance"
        shot(page, "governance-narrow")
        page.goto(f"{base}/pages/testing")
        page.set_input_files(
            "#files", [str(p) for p in sorted((ROOT / "fhir_samples" / "synthea").glob("*.json"))[:2]]
        )
        page.click("#run-tests")
        expect(page.locator("#rule-results")).to_be_visible()
        assert no_horizontal_overflow(page), "testing results"
        page.goto(f"{base}/pages/review")
        page.select_option("#sample", MDR1_SAMPLE)
        page.click("#evaluate")
        expect(page.locator("#why")).to_be_visible()
        assert no_horizontal_overflow(page), "card review"
        page.close()
