"""The Spark runner (local mode, the machine's Java 17) finds exactly what the local runner finds."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq

from mdrcds.cli import main
from mdrcds.research.batch import run_local
from mdrcds.research.spark import run_spark
from test_batch import BULK, export_from_golden_cases

NOW = date(2026, 11, 23)


def test_spark_and_local_runs_give_identical_findings(tmp_path: Path) -> None:
    export = tmp_path / "export"
    export.mkdir()
    export_from_golden_cases(export)
    for file in BULK.glob("*.ndjson"):
        shutil.copy(file, export / file.name.replace(".000.", ".001."))
    local = run_local([export], now=NOW, workers=2)
    reports: list[tuple[int, int, int]] = []
    spark = run_spark(
        [export], tmp_path / "spark-out", now=NOW, master="local[2]", progress=lambda *r: reports.append(r)
    )
    # progress: the last report (after the run) has every task of every job done
    done, total, jobs = reports[-1]
    assert jobs >= 2 and total > 0 and done == total
    assert local.findings  # the comparison is not vacuous
    assert spark.findings == local.findings
    assert spark.patients == local.patients == 18
    assert [p.kind for p in spark.read_problems] == [p.kind for p in local.read_problems] == ["invalid-json"]
    written = sorted(
        pq.read_table(tmp_path / "spark-out" / "findings.parquet").to_pylist(),
        key=lambda r: (r["patient"], r["rule"]),
    )
    assert [(r["patient"], r["rule"], r["triggers"]) for r in written] == [
        (f.patient, f.rule, f.triggers) for f in local.findings
    ]


def test_the_batch_command_on_spark_writes_the_same_summary(tmp_path: Path) -> None:
    export = tmp_path / "export"
    export.mkdir()
    export_from_golden_cases(export)
    for engine in ("local", "spark"):
        assert (
            main(
                [
                    "batch",
                    str(export),
                    "--out",
                    str(tmp_path / engine),
                    "--now",
                    "2026-11-23",
                    "--engine",
                    engine,
                    "--master",
                    "local[2]",
                ]
            )
            == 0
        )
    local, spark = (json.loads((tmp_path / e / "summary.json").read_text()) for e in ("local", "spark"))
    for key in ("patients", "patients_with_cards", "findings", "rules", "errors", "rulebook", "now"):
        assert spark[key] == local[key], key
    assert (spark["engine"], spark["master"]) == ("spark", "local[2]")
    assert (tmp_path / "spark" / "findings.csv").read_text() == (
        tmp_path / "local" / "findings.csv"
    ).read_text()
    assert (tmp_path / "spark" / "report.html").exists()
