from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SAMPLES
from mdrcds.cli import main

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
    assert code == 1 and "cannot read" in err
    code, _, err = run(capsys, "evaluate", str(MDR1_CASE), "--hook", "patient-view")
    assert code == 1 and "is a 'order-select' request; --hook patient-view does not apply" in err


def test_rules_check_and_list(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "rules", "check")
    assert code == 0 and " rules OK" in out
    code, out, _ = run(capsys, "rules", "list")
    assert (
        code == 0
        and "mdr1-inhibitor-with-immunotherapy\n    MDR1 (P-glycoprotein) inhibitor with immunotherapy" in out
    )


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
