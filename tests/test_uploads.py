"""Uploaded test cases never open a path a client sent, and YAML is read with limits.

The attack these guard against: a YAML case uploaded to the rule-testing page with
`data: [{bundle: PATH}]` made the server read that path (absolute or `../`), evaluate another
application's Bundle, show its clinical text as cards, tell from the error whether a file existed,
and read `/dev/zero` until the service was killed.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
import tracemalloc
from datetime import date
from pathlib import Path

import httpx
import pytest

from conftest import ROOT
from mdrcds.knowledge.rulebook import Rulebook, check_rulebook
from mdrcds.knowledge.yamlfile import YamlLimitError, load_yaml
from mdrcds.reading.population import ReadProblem, ndjson_records
from mdrcds.reasoning.engine import Engine
from mdrcds.research.ruletesting import TestingRun, Upload, run_uploads
from mdrcds.settings import Settings
from service_support import live_service

SENTINEL_DRUG = "verapamil SENTINEL-7f3a"

# A Bundle that would fire the MDR1 x checkpoint-inhibitor rule: if the server ever read it, a card
# naming the sentinel text would appear.
FIRING_BUNDLE = {
    "resourceType": "Bundle",
    "type": "collection",
    "entry": [
        {"resource": {"resourceType": "Patient", "id": "p-sentinel"}},
        {
            "resource": {
                "resourceType": "MedicationRequest",
                "id": "m1",
                "status": "active",
                "intent": "order",
                "subject": {"reference": "Patient/p-sentinel"},
                "authoredOn": "2026-11-01",
                "medicationCodeableConcept": {"text": SENTINEL_DRUG},
            }
        },
        {
            "resource": {
                "resourceType": "MedicationRequest",
                "id": "m2",
                "status": "active",
                "intent": "order",
                "subject": {"reference": "Patient/p-sentinel"},
                "authoredOn": "2026-11-20",
                "medicationCodeableConcept": {"text": "pembrolizumab"},
            }
        },
    ],
}


def case_yaml(reference: str) -> bytes:
    return (
        "name: reads a bundle\nnow: 2026-11-23\nhook: patient-view\n"
        f"data:\n  - bundle: {json.dumps(reference)}\n"
        "expect:\n  - rule: mdr1-inhibitor-with-immunotherapy\n    fired: true\n"
    ).encode()


def run(uploads: list[Upload], rulebook: Rulebook, engine: Engine) -> TestingRun:
    return run_uploads(
        uploads, rulebook, engine, now=date(2026, 11, 23), hook="patient-view", max_subjects=50
    )


def everything_shown(result: TestingRun) -> str:
    return json.dumps(
        [[s.name, s.cards, s.problems, s.error] for s in result.subjects] + [result.read_problems]
    )


@pytest.fixture
def sentinel(tmp_path: Path) -> Path:
    path = tmp_path / "other-application" / "patient.json"
    path.parent.mkdir()
    path.write_text(json.dumps(FIRING_BUNDLE))
    return path


def test_the_sentinel_bundle_fires_when_read_legitimately(
    sentinel: Path, rulebook: Rulebook, engine: Engine
) -> None:
    # The true positive the refusals below are measured against: the same data, uploaded with the case.
    result = run(
        [Upload("case.yaml", case_yaml("patient.json")), Upload("patient.json", sentinel.read_bytes())],
        rulebook,
        engine,
    )
    assert result.read_problems == []
    [subject] = result.subjects  # the referenced Bundle is the case's data, not a patient of its own
    assert subject.kind == "case" and subject.passed, subject.problems
    assert SENTINEL_DRUG in everything_shown(result)


def test_a_case_cannot_read_a_server_path(
    sentinel: Path, tmp_path: Path, rulebook: Rulebook, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(sentinel.parent)
    references = [
        str(sentinel),  # absolute
        "patient.json",  # relative to the working directory, not uploaded
        "../other-application/patient.json",
        "./patient.json",
        "/dev/zero",
        "/etc/passwd",
        "/proc/self/environ",
        str(tmp_path / "does-not-exist.json"),
    ]
    messages = []
    for reference in references:
        result = run([Upload("case.yaml", case_yaml(reference))], rulebook, engine)
        shown = everything_shown(result)
        assert SENTINEL_DRUG not in shown and "root:" not in shown, reference
        assert result.subjects == [], reference
        [problem] = result.read_problems
        messages.append(problem.replace(json.dumps(reference)[1:-1], "REF"))
    # The answer is the same whether the file exists or not: no existence oracle.
    assert len(set(messages)) == 1, messages
    assert "no paths are read on the server" in messages[0]


def test_a_case_with_a_folder_in_its_upload_name_cannot_reach_a_path(
    sentinel: Path, rulebook: Rulebook, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A client (not a browser) may send a file name with folders; only its last part names it.
    monkeypatch.chdir(sentinel.parent.parent)
    result = run([Upload("../../x/case.yaml", case_yaml("other-application/patient.json"))], rulebook, engine)
    assert SENTINEL_DRUG not in everything_shown(result)
    assert result.read_problems and result.read_problems[0].startswith("case.yaml: data[0].bundle:")


def test_the_testing_page_over_http_reads_no_server_path(sentinel: Path, tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}", auth="off", spool_dir=tmp_path, pages=True
    )
    with live_service(settings) as base:
        for reference in (str(sentinel), "/dev/zero"):
            answer = httpx.post(
                f"{base}/pages/testing",
                files=[("files", ("case.yaml", case_yaml(reference), "application/x-yaml"))],
                data={"hook": "patient-view", "now": "2026-11-23"},
                timeout=30,
            )
            assert answer.status_code < 500
            assert SENTINEL_DRUG not in answer.text
            assert "no paths are read on the server" in answer.text
        healthy = httpx.get(f"{base}/healthz", timeout=5)
        assert healthy.status_code == 200


ALIAS_BOMB = "\n".join(
    ["a: &a [x, x, x, x, x, x, x, x, x]"]
    + [
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]"
        for i in range(9)
    ]
)


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        (ALIAS_BOMB.encode(), "aliases"),
        (b"[" * 70 + b"]" * 70, "nested deeper than 64"),
        (b"[" * 100_000 + b"]" * 100_000, "nest"),  # libyaml's own limit (1,000 flow levels) or ours
        (b"name: caf\xe9\n", "not UTF-8 text (byte 9"),
        (b"- x\n" * 1_200_000, "bytes of YAML, over the limit"),
        (b"key: [unclosed\n", "not valid YAML"),
    ],
    ids=["alias-bomb", "deep", "very-deep", "latin-1", "large", "invalid"],
)
def test_hostile_yaml_is_refused_with_a_message(document: bytes, problem: str) -> None:
    with pytest.raises(YamlLimitError) as raised:
        load_yaml(document, "upload.yaml")
    assert str(raised.value).startswith("upload.yaml: ") and problem in str(raised.value)


def test_plain_yaml_with_an_anchor_but_no_alias_still_reads() -> None:
    assert load_yaml(b"a: &x 1\nb: [2, 3]\n", "ok.yaml") == {"a": 1, "b": [2, 3]}


@pytest.mark.parametrize("document", [ALIAS_BOMB.encode(), b"[" * 100_000, b"\xff\xfe\x00"])
def test_hostile_yaml_uploads_are_named_problems(document: bytes, rulebook: Rulebook, engine: Engine) -> None:
    result = run([Upload("bomb.yaml", document)], rulebook, engine)
    assert result.subjects == []
    [problem] = result.read_problems
    assert problem.startswith("bomb.yaml: ")


def test_rules_check_refuses_an_alias_bomb_in_a_value_set(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    target = sorted((rules / "valuesets").glob("*.yaml"))[0]
    target.write_text(target.read_text() + "\n" + ALIAS_BOMB.replace("a:", "zz_a:", 1) + "\n")
    problems = check_rulebook(rules)
    assert any(str(target) in p and "aliases" in p for p in problems), problems


JUNK_LINES = b"x\n" * 4_500_000  # 9 MB of one-character lines: no JSON, no patient


def test_junk_ndjson_costs_memory_in_proportion_to_the_upload() -> None:
    problems: list[ReadProblem] = []
    tracemalloc.start()
    try:
        patients = ndjson_records(JUNK_LINES, "junk.ndjson", problems)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert patients == []
    assert len(problems) == 101  # 100 problems, then one line saying the rest was not read
    assert problems[-1].kind == "too-many-problems"
    assert peak < len(JUNK_LINES)  # not a problem record (or a line object) per line


def test_a_junk_upload_to_card_review_does_not_stall_the_event_loop(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}", auth="off", spool_dir=tmp_path, pages=True
    )
    with live_service(settings) as base:
        latencies: list[float] = []
        answers: list[httpx.Response] = []

        def upload() -> None:
            answers.append(
                httpx.post(
                    f"{base}/pages/review",
                    files=[("file", ("junk.ndjson", JUNK_LINES, "application/x-ndjson"))],
                    data={"hook": "patient-view", "now": "2026-11-23"},
                    timeout=60,
                )
            )

        sender = threading.Thread(target=upload)
        sender.start()
        while sender.is_alive():
            started = time.monotonic()
            assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200
            latencies.append(time.monotonic() - started)
            time.sleep(0.05)
        sender.join()
        [answer] = answers
        assert answer.status_code == 400
        assert "junk.ndjson:1" in answer.text
        assert max(latencies) < 1.0
