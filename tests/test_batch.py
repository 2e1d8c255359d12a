"""Batch runs over Bundle files and Bulk Data NDJSON: grouping, errors, outputs, the report."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from mdrcds.cli import main
from mdrcds.reading import population
from mdrcds.reading.population import ReadProblem, records
from mdrcds.research.batch import run_local

ROOT = Path(__file__).resolve().parents[1]
BULK = ROOT / "fhir_samples" / "bulk"
NOW = date(2026, 11, 23)
CASES = {
    "mdr1-pembrolizumab-verapamil-stopped": set(),
    "mdr1-nivolumab-amiodarone-patient-view": {"mdr1-inhibitor-with-immunotherapy"},
    "pgp-docetaxel-clarithromycin-patient-view": {"pgp-inhibitor-with-pgp-substrate-chemotherapy"},
    "transplant-kidney-nivolumab-patient-view": {"checkpoint-inhibitor-in-solid-organ-transplant"},
    "jak1-pathogenic-pembrolizumab-patient-view": {"jak1-jak2-loss-with-pd1-blockade"},
}


def export_from_golden_cases(directory: Path) -> dict[str, set[str]]:
    """A Bulk Data export (NDJSON per type) holding the patient-view golden cases, one patient each."""
    lines: dict[str, list[str]] = {}
    expected = {}
    for number, case in enumerate(CASES):
        request = json.loads((ROOT / "fhir_samples" / case / "request.json").read_text())
        patient = f"patient-{number}"
        expected[patient] = CASES[case]
        text = json.dumps(request["prefetch"]).replace("Patient/p-onc-1", f"Patient/{patient}")
        prefetch: dict[str, Any] = json.loads(text)
        prefetch["patient"]["id"] = patient
        resources = [prefetch.pop("patient")]
        for bundle in prefetch.values():
            resources += [
                dict(e["resource"], id=f"{patient}-{e['resource']['id']}") for e in bundle.get("entry", [])
            ]
        for resource in resources:
            lines.setdefault(resource["resourceType"], []).append(json.dumps(resource))
    lines["MedicationRequest"].append("{not json")
    lines["Encounter"] = [
        json.dumps({"resourceType": "Encounter", "id": "e1", "subject": {"reference": "Patient/patient-0"}})
    ]
    for resource_type, items in lines.items():
        (directory / f"{resource_type}.000.ndjson").write_text("\n".join(items) + "\n")
    return expected


def findings_by_patient(rows: list[Any]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for row in rows:
        found.setdefault(row.patient, set()).add(row.rule)
    return found


@pytest.mark.parametrize("workers", [1, 2])
def test_an_ndjson_export_is_grouped_by_patient_and_evaluated(tmp_path: Path, workers: int) -> None:
    expected = export_from_golden_cases(tmp_path)
    result = run_local([tmp_path], now=NOW, workers=workers)
    assert result.patients == 5
    assert findings_by_patient(result.findings) == {p: rules for p, rules in expected.items() if rules}
    assert [
        (p.kind, p.source.endswith("MedicationRequest.000.ndjson:" + p.source.rsplit(":", 1)[1]))
        for p in result.read_problems
    ] == [("invalid-json", True)]
    [row] = [r for r in result.findings if r.patient == "patient-1"]
    assert row.triggers == "MedicationRequest/patient-1-amiodarone-1;MedicationRequest/patient-1-nivolumab-1"


def test_large_exports_are_bucketed_on_disk_with_the_same_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = export_from_golden_cases(tmp_path)
    monkeypatch.setattr(population, "BUCKET_BYTES", 2000)
    result = run_local([tmp_path], now=NOW)
    assert findings_by_patient(result.findings) == {p: rules for p, rules in expected.items() if rules}


def test_the_bulk_sample_reads_only_rule_types_and_skips_the_log() -> None:
    problems: list[ReadProblem] = []
    patients = list(records([BULK], problems))
    assert len(patients) == 13
    assert problems == []
    everything = b"".join(p.document for p in patients)
    assert b'"Immunization"' not in everything and b"exportId" not in everything
    assert all(json.loads(p.document)["resourceType"] == "Bundle" for p in patients)


def test_a_bad_patient_is_reported_and_the_run_goes_on(tmp_path: Path) -> None:
    good = ROOT / "fhir_samples" / "mdr1-nivolumab-amiodarone-patient-view" / "request.json"
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [
                    {
                        "resource": {
                            "resourceType": "MedicationRequest",
                            "id": "x",
                            "status": "active",
                            "intent": "order",
                            "authoredOn": "yesterday",
                            "medicationCodeableConcept": {"text": "verapamil"},
                            "subject": {"reference": "Patient/p"},
                        }
                    }
                ],
            }
        )
    )
    result = run_local([bad, good], now=NOW)
    assert result.patients == 2
    [failed] = result.failed
    assert failed.error_kind == "FhirValidationError" and "authoredOn" in (failed.error or "")
    assert {r.rule for r in result.findings} == {"mdr1-inhibitor-with-immunotherapy"}


def test_the_batch_command_writes_every_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    export = tmp_path / "export"
    export.mkdir()
    export_from_golden_cases(export)
    out = tmp_path / "out"
    assert (
        main(["batch", str(export), str(BULK), "--out", str(out), "--now", "2026-11-23", "--workers", "2"])
        == 0
    )
    assert "18 patients, 4 with cards, 0 failed" in capsys.readouterr().out
    with (out / "findings.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 4
    assert pq.read_table(out / "findings.parquet").to_pylist() == rows
    summary = json.loads((out / "summary.json").read_text())
    assert summary["patients"] == 18 and summary["patients_with_cards"] == 4
    assert summary["rules"]["mdr1-inhibitor-with-immunotherapy"] == {
        "indicator": "info",
        "evidence": "preclinical",
        "patients": 1,
        "rate": 1 / 18,
    }
    # findings for analysis: keyed by source file and patient, with evidence, hook, date and card uuid
    assert list(rows[0]) == [
        "patient",
        "source",
        "rule",
        "evidence",
        "indicator",
        "hook",
        "now",
        "card",
        "summary",
        "triggers",
    ]
    assert {(r["hook"], r["now"]) for r in rows} == {("patient-view", "2026-11-23")}
    assert all(r["source"] and r["evidence"] and len(r["card"]) == 36 for r in rows)
    assert summary["errors"] == {"invalid-json": 1}
    assert summary["command"][1:3] == ["batch", str(export)] and summary["now"] == "2026-11-23"
    report = (out / "report.html").read_text()
    assert report.count('class="bar"') == 17
    assert 'id="legend"' in report and "[preclinical]" in report
    assert "patient-1" in report and "<script" not in report


def test_the_analysis_example_reads_findings_parquet(tmp_path: Path) -> None:
    """docs/examples/firing_rates.py, the researchers' pandas example, on a real batch output."""
    out = tmp_path / "out"
    assert main(["synth", "--patients", "200", "--seed", "4", "--out", str(tmp_path / "cohort"), "-q"]) == 0
    assert main(["batch", str(tmp_path / "cohort"), "--out", str(out), "--now", "2026-11-23", "-q"]) == 0
    script = ROOT / "docs" / "examples" / "firing_rates.py"
    done = subprocess.run(
        [sys.executable, str(script), str(out)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    summary = json.loads((out / "summary.json").read_text())
    fired = {rule: info["patients"] for rule, info in summary["rules"].items() if info["patients"]}
    assert len(lines) == len(fired)
    for line in lines:
        rule, patients = line.split()[:2]
        assert fired[rule] == int(patients.replace(",", ""))


def test_without_the_parquet_extra_batch_writes_csv_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lean install (scripts/demo) has no pyarrow: batch still writes findings.csv, summary and
    report, and says in one line how to get findings.parquet."""
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    out = tmp_path / "out"
    assert main(["batch", str(BULK), "--out", str(out), "--now", "2026-11-23", "-q"]) == 0
    captured = capsys.readouterr()
    assert (out / "findings.csv").is_file() and (out / "report.html").is_file()
    assert not (out / "findings.parquet").exists()
    assert "findings.parquet not written: it needs the parquet extra" in captured.err
    assert "findings.parquet" not in captured.out
