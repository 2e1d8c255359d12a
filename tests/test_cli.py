from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SAMPLES
from mdrcds.cli import Candidate, evaluation_order, main
from mdrcds.reading import fhir

MDR1_CASE = SAMPLES / "mdr1-pembrolizumab-verapamil-order-select" / "request.json"
STOPPED_CASE = SAMPLES / "mdr1-pembrolizumab-verapamil-stopped" / "request.json"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_json_output_is_one_response_per_input(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys, "evaluate", str(MDR1_CASE), str(STOPPED_CASE), "--now", "2026-11-23", "--format", "json"
    )
    assert (code, err) == (0, "")
    first, second = (json.loads(line) for line in out.splitlines())
    assert [c["source"]["topic"]["code"] for c in first["cards"]] == ["mdr1-inhibitor-with-immunotherapy"]
    assert second == {"cards": []}


def test_text_output_is_readable(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "evaluate", str(MDR1_CASE), "--now", "2026-11-23")
    assert code == 0
    assert "order-select, Patient/p-onc-1: 1 card" in out
    assert "[INFO] verapamil (MDR1/P-gp inhibitor) with pembrolizumab: preclinical signal only" in out
    assert "\033[" not in out  # no colour when not a terminal


def test_directory_and_bundle_hook(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    shutil.copy(
        SAMPLES / "synthea" / "Buster_Hoeger_ad2e3fc5-2b5d-4cb9-8d03-9ea0f4ac8423.json", tmp_path / "a.json"
    )
    code, out, _ = run(capsys, "evaluate", str(tmp_path), "--hook", "order-sign", "--format", "json")
    assert code == 0 and json.loads(out) == {"cards": []}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{broken", "not valid JSON"),
        ('{"hook": "medication-prescribe", "context": {}}', "unknown hook 'medication-prescribe'"),
        (
            '{"resourceType": "MedicationRequest", "id": "m1", "status": "active", "intent": "order",'
            ' "subject": {"reference": "Patient/1"}, "medicationCodeableConcept": {"text": "verapamil"},'
            ' "authoredOn": "yesterday"}',
            "invalid FHIR resource MedicationRequest/m1 at authoredOn",
        ),
    ],
)
def test_bad_input_gives_one_error_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    code, out, err = run(capsys, "evaluate", str(path))
    assert code != 0 and out == ""
    assert len(err.splitlines()) == 1 and message in err and err.startswith("mdrcds: error: ")


def test_missing_file_and_hook_mismatch(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "evaluate", str(tmp_path / "nope.json"))
    assert code == 2 and "nope.json: no such file or directory" in err
    code, _, err = run(capsys, "evaluate", str(MDR1_CASE), "--hook", "patient-view")
    assert code == 1 and "is a 'order-select' request; --hook patient-view does not apply" in err


def test_rules_check_and_list(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "rules", "check")
    assert code == 0 and " rules OK" in out
    code, out, _ = run(capsys, "rules", "list", "--json")
    listed = json.loads(out)
    assert code == 0 and len(listed["rules"]) == 17
    assert {
        "id": "mdr1-inhibitor-with-immunotherapy",
        "title": "MDR1 (P-glycoprotein) inhibitor with immunotherapy",
    }.items() <= listed["rules"][
        listed["rules"].index(
            next(r for r in listed["rules"] if r["id"] == "mdr1-inhibitor-with-immunotherapy")
        )
    ].items()
    code, out, _ = run(capsys, "rules", "list")
    assert code == 0 and "mdr1-inhibitor-with-immunotherapy" in out and "evidence" in out


def test_rules_check_fails_on_a_broken_rulebook(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    shutil.copytree(SAMPLES.parent / "rules", tmp_path / "rules")
    (tmp_path / "rules" / "citations.yaml").write_text("{}\n")
    code, _, err = run(capsys, "rules", "check", "--rules", str(tmp_path / "rules"))
    assert code == 1 and "unknown citation key 'chen-2020-mdr1-ctl'" in err


def test_console_script_never_prints_a_traceback(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("mdrcds")
    path = tmp_path / "bad.json"
    path.write_text(
        '{"hook": "order-select", "context": {"draftOrders": {"resourceType": "Bundle", "type": "collection"}, "selections": "x"}}'
    )
    result = subprocess.run([str(script), "evaluate", str(path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr
    assert "context.selections must be an array" in result.stderr


def test_readme_example_is_the_real_output(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(SAMPLES.parent)
    readme = (SAMPLES.parent / "README.md").read_text()
    shown = readme.split("```text\n", 1)[1].split("```", 1)[0]
    code, out, _ = run(capsys, "evaluate", str(MDR1_CASE.relative_to(SAMPLES.parent)))
    assert code == 0 and out.strip() == shown.strip()


def test_readme_commands_exist() -> None:
    root = SAMPLES.parent
    readme = (root / "README.md").read_text()
    for script in ("scripts/demo", "scripts/test"):
        assert script in readme.split("---", 1)[0]
        assert (root / script).stat().st_mode & 0o111
    assert "scripts/test" in (root / ".ci" / "run").read_text()


SUBCOMMANDS = [
    ["evaluate"],
    ["explain"],
    ["synth"],
    ["test"],
    ["batch"],
    ["serve"],
    ["rules", "check"],
    ["rules", "list"],
    ["rules", "docs"],
    ["rules", "export"],
    ["api", "export"],
]


@pytest.mark.parametrize("command", SUBCOMMANDS, ids=" ".join)
def test_every_command_has_help_with_an_example_and_the_exit_codes(
    capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    code, out, _ = run(capsys, *command, "--help")
    assert code == 0
    assert "Example" in out and "Exit codes: 0 ok; 1" in out


def test_a_usage_error_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "evaluate", str(MDR1_CASE), "--now", "23/11/2026")
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1 and "not a date (YYYY-MM-DD)" in err and "mdrcds evaluate --help" in err
    code, _, err = run(capsys, "frobnicate")
    assert code == 2 and err.startswith("mdrcds: error: ")


def test_evaluate_a_directory_reads_only_inputs_and_says_what_it_passed_over(
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = MDR1_CASE.parent
    code, out, err = run(capsys, "evaluate", str(folder), "--format", "json")
    assert code == 0
    assert len(out.splitlines()) == 1  # request.json only
    assert "passed over 1 JSON file(s)" in err  # expected.json


def test_a_directory_is_read_once_per_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Whether a file found in a directory is an input is told by reading it to evaluate it, not by a
    # read beforehand: every byte of a large record was read and parsed twice.
    shutil.copytree(MDR1_CASE.parent, tmp_path / "case")
    shutil.copytree(STOPPED_CASE.parent, tmp_path / "stopped")
    opened: list[str] = []
    real_load = fhir._load
    real_read_bytes = Path.read_bytes

    def counting_load(path: Path, where: str) -> object:
        opened.append(path.relative_to(tmp_path).as_posix())
        return real_load(path, where)

    def counting_read_bytes(self: Path) -> bytes:
        if self.is_relative_to(tmp_path):
            opened.append(self.relative_to(tmp_path).as_posix())
        return real_read_bytes(self)

    monkeypatch.setattr(fhir, "_load", counting_load)
    monkeypatch.setattr(Path, "read_bytes", counting_read_bytes)
    code, out, err = run(capsys, "evaluate", str(tmp_path), "--format", "json")
    assert code == 0 and len(out.splitlines()) == 2
    assert "passed over 2 JSON file(s)" in err
    # Each request read once to evaluate it, each expected.json once to be passed over (and once more
    # for the date stated beside each request).
    assert sorted(opened) == [
        "case/expected.json",
        "case/expected.json",
        "case/request.json",
        "stopped/expected.json",
        "stopped/expected.json",
        "stopped/request.json",
    ]


def test_the_largest_file_is_evaluated_first() -> None:
    def files(*sizes: int) -> list[Candidate]:
        return [Candidate(Path(f"{n}.json"), named=True, size=size) for n, size in enumerate(sizes)]

    assert evaluation_order(files(1, 5, 3, 5)) == [1, 0, 2, 3]
    assert evaluation_order(files(9, 1)) == [0, 1]
    assert evaluation_order([]) == []


def test_each_file_is_shown_in_its_turn_whichever_is_read_first(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The JSON parser's buffers only grow: the largest file, read first, sizes them once. What is
    # printed, cards and errors alike, still follows the order of the files.
    shutil.copy(MDR1_CASE, tmp_path / "a.json")
    shutil.copy(
        SAMPLES / "synthea" / "Buster_Hoeger_ad2e3fc5-2b5d-4cb9-8d03-9ea0f4ac8423.json", tmp_path / "b.json"
    )
    (tmp_path / "c.json").write_text("{broken")
    (tmp_path / "d.json").write_text(
        '{"hook": "medication-prescribe", "context": {}, "x": "' + "x" * 300_000 + '"}'
    )
    shutil.copy(STOPPED_CASE, tmp_path / "e.json")
    loaded: list[str] = []
    real_load = fhir._load

    def recording_load(path: Path, where: str) -> object:
        loaded.append(path.name)
        return real_load(path, where)

    monkeypatch.setattr(fhir, "_load", recording_load)
    code, out, err = run(capsys, "evaluate", str(tmp_path), "--now", "2026-11-23")
    assert code == 1
    assert loaded == ["d.json", "a.json", "b.json", "c.json", "e.json"]
    shown = [line.split(":")[0] for line in out.splitlines() if line.startswith(str(tmp_path))]
    assert shown == [str(tmp_path / name) for name in ("a.json", "b.json", "e.json")]
    errors = err.splitlines()
    assert len(errors) == 2
    assert "c.json: not valid JSON" in errors[0] and "d.json: unknown hook" in errors[1]


def test_a_directory_of_other_json_is_nothing_to_evaluate(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "response.json").write_text('{"cards": []}')
    (tmp_path / "list.json").write_text("[1, 2]")
    code, out, err = run(capsys, "evaluate", str(tmp_path))
    assert code == 2 and out == ""
    assert "passed over 2 JSON file(s)" in err and "nothing to evaluate" in err
    # Named on its own, the same file is an error, not passed over.
    code, out, err = run(capsys, "evaluate", str(tmp_path / "response.json"))
    assert code == 1 and out == ""
    assert "neither a CDS Hooks request (no 'hook') nor a FHIR resource" in err


def test_evaluate_uses_the_date_stated_beside_a_sample(capsys: pytest.CaptureFixture[str]) -> None:
    """Examples do not age: without --now, a golden case is evaluated at the `now` of its
    expected.json, so its saved expectation holds on any day."""
    case = SAMPLES / "exposure-pembrolizumab-given-12-days-ago-verapamil-order-select" / "request.json"
    expected = json.loads(case.with_name("expected.json").read_text())
    code, out, _ = run(capsys, "evaluate", str(case), "--format", "json")
    stated = [c["source"]["topic"]["code"] for c in json.loads(out)["cards"]]
    assert code == 0 and stated == [c["rule"] for c in expected["cards"]]
    code, out, _ = run(capsys, "evaluate", str(case), "--format", "json", "--now", "2027-03-01")
    assert json.loads(out)["cards"] == []  # told otherwise: the last dose is long past


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("case.yaml", "name: a case\n", "this is a YAML test case: use `mdrcds test"),
        ("table.json", "x,y\n1,2\n", "its structure is broken"),
        ("words.json", '{"a": nul}', "a bare word where a value should be"),
    ],
)
def test_unreadable_files_are_named_in_plain_words(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str, content: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(content)
    code, _, err = run(capsys, "evaluate", str(path))
    assert code == 1 and str(path) in err and message in err
    assert "TAPE_ERROR" not in err and "unrecoverable" not in err


def test_batch_refuses_what_it_cannot_read_with_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    table = tmp_path / "patients.csv"
    table.write_text("id\n1\n")
    for inputs, message in (
        ([str(tmp_path / "missing")], "no such file or directory"),
        ([str(table)], "not a Bundle (.json), an NDJSON export (.ndjson) or a directory"),
    ):
        code, _, err = run(capsys, "batch", *inputs, "--out", str(tmp_path / "out"))
        assert code == 2 and message in err
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run(capsys, "batch", str(empty), "--out", str(tmp_path / "out"))
    assert code == 2 and "no patients found" in err


def test_shell_completion_is_offered(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0 and "--install-completion" in out


@pytest.mark.parametrize("service", ["mdrcds-patient-view", "mdrcds-order-select", "mdrcds-order-sign"])
def test_api_examples_replay_at_their_own_date(capsys: pytest.CaptureFixture[str], service: str) -> None:
    """api/examples/now.json states the examples' date: evaluated without --now, on any day, each
    request gives its saved response."""
    examples = SAMPLES.parent / "api" / "examples"
    code, out, _ = run(capsys, "evaluate", str(examples / f"{service}.request.json"), "--format", "json")
    assert code == 0
    assert json.loads(out) == json.loads((examples / f"{service}.response.json").read_text())
