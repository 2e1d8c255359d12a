"""A draft rule uploaded on the rule-testing page: linted with the rulebook's limits, its problems shown
inline, evaluated in a child process for that request only, and never added to the server's rulebook.
Over real HTTP against the live service (the browser path is in test_pages_browser.py)."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import httpx
import pytest

from conftest import ROOT
from mdrcds.errors import RuleLoadError
from mdrcds.knowledge.rulebook import Rulebook, with_draft_rule
from mdrcds.research.draftrun import DraftRunError, DraftSlots, DraftSlotsFull, run_with_draft
from mdrcds.research.ruletesting import TestingInputError, TestingRun, Upload
from mdrcds.settings import Settings
from service_support import live_service

MDR1_RULE = "mdr1-inhibitor-with-immunotherapy"
DRAFT_ID = "draft-pgp-inhibitor-with-checkpoint-inhibitor-any-time"
BASE_RULE = (ROOT / "rules" / "rules" / f"{MDR1_RULE}.yaml").read_text()
# A new rule drafted from the MDR1 rule: any time on therapy, not only at its start.
DRAFT = (
    BASE_RULE.replace(f"id: {MDR1_RULE}", f"id: {DRAFT_ID}")
    .replace(
        "title: MDR1 (P-glycoprotein) inhibitor with immunotherapy",
        "title: Draft - P-gp inhibitor at any time on immunotherapy",
    )
    .replace("    - at_treatment_start: {alias: immunotherapy, hooks: [patient-view]}\n", "")
    .replace("  where:\n", "")
)
# The verapamil + pembrolizumab case, well after the start of therapy (the shipped rule stays quiet).
CASE = f"""name: verapamil during established pembrolizumab therapy
now: 2026-11-23
hook: patient-view
data:
  - resourceType: MedicationRequest
    status: active
    intent: order
    authoredOn: 2026-06-01
    medicationCodeableConcept: "rxnorm#11170 verapamil"
  - resourceType: MedicationRequest
    status: active
    intent: order
    authoredOn: 2026-03-01
    medicationCodeableConcept: "rxnorm#1547545 pembrolizumab"
expect:
  - rule: {DRAFT_ID}
    fired: true
  - rule: {MDR1_RULE}
    fired: false
"""


def rules_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted((ROOT / "rules").rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(ROOT).as_posix().encode() + path.read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    directory = tmp_path_factory.mktemp("draft-pages")
    settings = Settings(
        database_url=f"sqlite:///{directory / 'db.sqlite3'}", auth="off", spool_dir=directory, pages=True
    )
    with live_service(settings) as url:
        yield url


def post(client: httpx.Client, draft: tuple[str, str] | None, case: str = CASE) -> httpx.Response:
    files = [("files", ("case.yaml", case.encode(), "application/x-yaml"))]
    if draft is not None:
        files.append(("draft", (draft[0], draft[1].encode(), "application/x-yaml")))
    return client.post("/pages/testing", files=files, data={"hook": "patient-view", "expected": "# none"})


def test_a_draft_rule_is_evaluated_for_that_request_only(base: str) -> None:
    before = rules_digest()
    with httpx.Client(base_url=base, timeout=120) as client:
        version = client.get("/pages/rules").text
        run = post(client, (f"{DRAFT_ID}.yaml", DRAFT))
        assert run.status_code == 200, run.text[:1000]
        assert "1 of 1 test cases passed." in run.text
        assert f'data-rule="{DRAFT_ID}"' in run.text  # its card and its row in the summary
        assert "passed the linter and was evaluated for this run only" in run.text
        # the next run without the draft: the server has no such rule, and never had
        again = post(client, None)
        assert again.status_code == 200
        assert "0 of 1 test cases passed." in again.text and "rulebook does not have" in again.text
        assert DRAFT_ID not in client.get("/pages/rules").text
        assert client.get(f"/pages/rules/{DRAFT_ID}").status_code == 404
        assert client.get("/pages/rules").text == version
        services = client.get("/cds-services").json()["services"]
        assert DRAFT_ID not in str(services)
    assert rules_digest() == before


def test_a_draft_with_a_rules_id_replaces_it_for_the_run_only(base: str) -> None:
    """A draft of the shipped MDR1 rule that recognises no inhibitor: for that run the rule stays
    quiet on its own true positive; the next run without the draft fires it again."""
    positive = (
        "name: verapamil at the start of pembrolizumab\nnow: 2026-11-23\nhook: order-select\ndata:\n"
        "  - resourceType: MedicationRequest\n    status: draft\n    intent: order\n"
        '    medicationCodeableConcept: "rxnorm#1547545 pembrolizumab"\n'
        "  - resourceType: MedicationRequest\n    status: active\n    intent: order\n"
        '    medicationCodeableConcept: "rxnorm#11170 verapamil"\n'
        f"expect:\n  - rule: {MDR1_RULE}\n    fired: true\n"
    )
    narrowed = BASE_RULE.replace(
        "class: [pgp-inhibitor, pgp-inhibitor-investigational]", "class: pgp-inhibitor-investigational"
    )
    assert narrowed != BASE_RULE
    with httpx.Client(base_url=base, timeout=120) as client:
        assert "1 of 1 test cases passed." in post(client, None, positive).text
        drafted = post(client, (f"{MDR1_RULE}.yaml", narrowed), positive)
        assert drafted.status_code == 200
        assert "0 of 1 test cases passed." in drafted.text
        assert "in place of the rulebook rule with its id" in drafted.text
        assert "1 of 1 test cases passed." in post(client, None, positive).text


@pytest.mark.parametrize(
    ("draft", "problem"),
    [
        (
            DRAFT.replace(
                "class: [checkpoint-inhibitor, car-t]", "class: [checkpoint-inhibitor, no-such-class]"
            ),
            "when.all.immunotherapy.class: unknown value set &#x27;no-such-class&#x27;",
        ),
        (DRAFT.replace("indicator: info", "indicator: critical"), "indicator"),
        (
            DRAFT.replace("  - chen-2020-mdr1-ctl", "  - a-citation-nobody-verified"),
            "citations: unknown citation key &#x27;a-citation-nobody-verified&#x27;",
        ),
        (
            DRAFT.replace(
                "    immunotherapy:\n",
                "    third:\n      kind: medication\n      class: car-t\n"
                "    fourth:\n      kind: medication\n      class: car-t\n"
                "    fifth:\n      kind: medication\n      class: car-t\n    immunotherapy:\n",
            ),
            "patterns joined; at most 3",
        ),
        ("a: &a [x, x]\nb: [*a, *a]\n", "alias"),
        ("id: [unclosed\n", "not valid YAML"),
        (DRAFT, "id differs from the file name"),
    ],
    ids=[
        "unknown-value-set",
        "grade-indicator",
        "unknown-citation",
        "join-limit",
        "yaml-alias",
        "bad-yaml",
        "file-name",
    ],
)
def test_a_draft_that_fails_the_linter_shows_its_problems_inline(base: str, draft: str, problem: str) -> None:
    name = "renamed.yaml" if problem == "id differs from the file name" else f"{DRAFT_ID}.yaml"
    with httpx.Client(base_url=base, timeout=60) as client:
        answer = client.post(
            "/pages/testing",
            files=[
                ("files", ("case.yaml", CASE.encode(), "application/x-yaml")),
                ("draft", (name, draft.encode(), "application/x-yaml")),
            ],
            data={"hook": "order-sign", "now": "2026-10-01", "expected": f"{MDR1_RULE}: 1"},
        )
    assert answer.status_code == 422
    lint = answer.text[
        answer.text.index('id="draft-lint"') : answer.text.index(
            "</div>", answer.text.index('id="draft-lint"')
        )
    ]
    assert problem in lint, lint
    assert "Results:" not in answer.text  # nothing was run
    # the form keeps what was typed
    assert f"{MDR1_RULE}: 1</textarea>" in answer.text and 'value="2026-10-01"' in answer.text
    assert "<option selected>order-sign</option>" in answer.text


def rulebook_with_draft(rulebook: Rulebook) -> Rulebook:
    return with_draft_rule(rulebook, DRAFT.encode(), f"{DRAFT_ID}.yaml")[0]


def run_draft(
    rulebook: Rulebook, uploads: list[Upload], *, max_subjects: int = 10, seconds: float = 120
) -> TestingRun:
    """`run_with_draft` with the draft rule, at the case's date, from synchronous test code."""
    return asyncio.run(
        run_with_draft(
            rulebook_with_draft(rulebook),
            uploads,
            now=date(2026, 11, 23),
            hook="patient-view",
            max_subjects=max_subjects,
            seconds=seconds,
        )
    )


def test_the_draft_leaves_the_rulebook_object_as_it_was(rulebook: Rulebook) -> None:
    drafted, rule = with_draft_rule(rulebook, DRAFT.encode(), f"{DRAFT_ID}.yaml")
    assert rule.id == DRAFT_ID and rule.id in {r.id for r in drafted.rules}
    assert DRAFT_ID not in {r.id for r in rulebook.rules}
    assert drafted.version != rulebook.version and "draft-" in drafted.version
    with pytest.raises(RuleLoadError):
        with_draft_rule(rulebook, b"", "empty.yaml")


def test_a_run_past_its_deadline_is_stopped(rulebook: Rulebook) -> None:
    uploads = [Upload("case.yaml", CASE.encode())]
    with pytest.raises(DraftRunError, match="took longer than"):
        run_draft(rulebook, uploads, seconds=0.001)
    assert [s.passed for s in run_draft(rulebook, uploads).subjects] == [True]


def test_draft_runs_beyond_the_limit_are_refused() -> None:
    slots = DraftSlots()
    with slots.take(1), pytest.raises(DraftSlotsFull), slots.take(1):
        pass
    with slots.take(1):
        assert slots.in_flight == 1
    assert slots.in_flight == 0


def test_a_draft_run_over_the_patient_limit_is_refused_before_it_runs(rulebook: Rulebook) -> None:
    uploads = [Upload(f"case-{n}.yaml", CASE.encode()) for n in range(3)]
    with pytest.raises(TestingInputError, match="more than 2"):
        run_draft(rulebook, uploads, max_subjects=2)


def test_the_draft_fixture_is_the_shipped_rule_renamed() -> None:
    """Guards the test's own premise: the draft differs from the shipped rule only in id, title and
    the start-of-therapy condition."""
    assert Path(ROOT / "rules" / "rules" / f"{MDR1_RULE}.yaml").exists()
    assert "at_treatment_start" in BASE_RULE and "at_treatment_start" not in DRAFT
