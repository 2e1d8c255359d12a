"""Population runs on Apache Spark (optional extra `mdrcds[spark]`): the local runner's work, distributed.

NDJSON lines are read by Spark, tagged with their patient, co-located by patient
(`repartition` + `sortWithinPartitions`) and evaluated with the same per-patient function as the local
runner (`mdrcds.research.batch.evaluate_record`) inside `mapInPandas`. The findings are written as Parquet by
Spark and collected for `summary.json` and `report.html`.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from mdrcds.errors import InputFormatError, MdrcdsError
from mdrcds.knowledge.rulebook import Rulebook, load_rulebook
from mdrcds.reading.fhir import patient_of_raw
from mdrcds.reading.population import NDJSON_NAME, READ_TYPES, ReadProblem, bundle_of
from mdrcds.reasoning.engine import Engine
from mdrcds.research.batch import FINDING_COLUMNS, BatchResult, FindingRow, PatientOutcome, evaluate_record

_OUTPUT_SCHEMA = (
    "patient string, source string, rule string, evidence string, indicator string, hook string, "
    "now string, card string, summary string, triggers string, error_kind string, error string"
)
_EXECUTOR: dict[Any, tuple[Rulebook, Engine]] = {}


def ndjson_files(inputs: Sequence[Path]) -> dict[str, str]:
    """The NDJSON files of rule-relevant resource types under `inputs`: absolute path -> the path as
    the local runner names it (the patient's `source`)."""
    files: dict[str, str] = {}
    for path in inputs:
        candidates = sorted(path.glob("*.ndjson")) if path.is_dir() else [path]
        for file in candidates:
            match = NDJSON_NAME.match(file.name)
            if match and match.group(1) in READ_TYPES:
                files[str(file.resolve())] = str(file)
    return files


def _tag(batches: Iterator[Any]) -> Iterator[Any]:
    """(value) -> (value, patient, problem); a line with no patient is reported, not evaluated."""
    import pandas as pd

    for frame in batches:
        values = [str(line) for line in frame["value"]]
        sources = [str(name) for name in frame["file"]]
        patients: list[str | None] = []
        problems: list[str | None] = []
        for line in values:
            try:
                patient = patient_of_raw(line.encode())
                problems.append(None if patient else "no-patient")
            except InputFormatError:
                patient = None
                problems.append("invalid-json")
            patients.append(patient)
        # Plain Python strings: Spark may hand over Arrow-backed columns that it cannot take back.
        yield pd.DataFrame(
            {"value": values, "patient": patients, "problem": problems, "file": sources}, dtype=object
        )


def _evaluator(rules_dir: str | None, now: date, hook: str, names: dict[str, str]) -> Any:
    def evaluate_partition(batches: Iterator[Any]) -> Iterator[Any]:

        from mdrcds.reading.population import PatientRecord

        key = (rules_dir, now, hook)
        if key not in _EXECUTOR:
            rulebook = load_rulebook(Path(rules_dir) if rules_dir else None)
            _EXECUTOR[key] = (rulebook, Engine(rulebook))
        rulebook, engine = _EXECUTOR[key]

        def rows(patient: str, lines: list[str], files: set[str]) -> list[dict[str, Any]]:
            # as the local runner: the first file, in file order, that holds a line of the patient
            first = min(files)
            absolute = first.removeprefix("file://")
            record = PatientRecord(
                patient, names.get(absolute, absolute), bundle_of([line.encode() for line in lines])
            )
            outcome = evaluate_record(record, rulebook, engine, now, hook)
            base = {"patient": outcome.patient, "source": record.source}
            if outcome.error_kind:
                return [base | {"error_kind": outcome.error_kind, "error": outcome.error}]
            found = [vars(row) | base for row in outcome.findings]
            return found or [base]  # a row per patient, so patients without cards are counted

        current: str | None = None
        lines: list[str] = []
        files: set[str] = set()
        for frame in batches:
            out: list[dict[str, Any]] = []
            for patient, line, file in zip(frame["patient"], frame["value"], frame["file"], strict=True):
                if patient != current and lines:
                    out += rows(str(current), lines, files)
                    lines, files = [], set()
                current = patient
                lines.append(line)
                files.add(str(file))
            if out:
                yield frame_of(out)
        if lines:
            yield frame_of(rows(str(current), lines, files))

    def frame_of(out: list[dict[str, Any]]) -> Any:
        import pandas as pd

        # Every column filled (None, not NaN) and of object dtype, so Arrow sees strings and nulls.
        return pd.DataFrame(
            [{c: row.get(c) for c in _COLUMNS} for row in out], columns=_COLUMNS, dtype=object
        )

    return evaluate_partition


_COLUMNS = [
    *("patient", "source", "rule", "evidence", "indicator", "hook", "now", "card", "summary", "triggers"),
    *("error_kind", "error"),
]


def run_spark(
    inputs: Sequence[Path],
    out: Path,
    *,
    now: date,
    hook: str = "patient-view",
    master: str | None = None,
    rules_dir: Path | None = None,
    partitions: int | None = None,
    progress: Callable[[int, int, int], None] | None = None,
) -> BatchResult:
    """Evaluate every patient of the NDJSON exports under `inputs` on Spark; findings.parquet in `out`.

    `master` is a Spark master URL; None means spark-submit's, or `local[2]` outside spark-submit.
    `progress(done, total, jobs)` is called about twice a second with the Spark tasks done and known so
    far, over every job the run has started (Spark learns of a job's tasks only when it starts it).
    """
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    started = time.monotonic()
    files = ndjson_files(inputs)
    if not files:
        raise MdrcdsError(
            "--engine spark reads Bulk Data exports: no <Type>.ndjson files of rule types found"
        )
    # Workers must run the Python that has mdrcds installed (on a cluster: set PYSPARK_PYTHON).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder
    # Under spark-submit the master comes from its --master; otherwise default to local mode.
    if master or "PYSPARK_GATEWAY_PORT" not in os.environ:
        builder = builder.master(master or "local[2]")
    spark = (
        builder.appName("mdrcds batch")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.shuffle.partitions", str(partitions or 8))
        .getOrCreate()
    )
    watcher = _TaskWatcher(spark, progress) if progress is not None else None
    try:
        lines = (
            spark.read.text(sorted(files))
            .where(F.length(F.trim("value")) > 0)
            .withColumn("file", F.input_file_name())
        )
        tagged = lines.mapInPandas(_tag, "value string, patient string, problem string, file string").cache()
        problems = [
            ReadProblem("spark", row.problem, "line skipped")
            for row in tagged.where(F.col("problem").isNotNull()).select("problem").collect()
        ]
        evaluated = (
            tagged.where(F.col("patient").isNotNull())
            .repartition(partitions or 8, "patient")
            .sortWithinPartitions("patient")
            .mapInPandas(_evaluator(str(rules_dir) if rules_dir else None, now, hook, files), _OUTPUT_SCHEMA)
            .cache()
        )
        evaluated.where(F.col("rule").isNotNull()).select(*FINDING_COLUMNS).write.mode("overwrite").parquet(
            str(out / "findings.parquet")
        )
        collected = evaluated.collect()
    finally:
        if watcher is not None:
            watcher.stop()
        spark.stop()
    findings = sorted(
        (
            FindingRow(
                r.patient,
                r.rule,
                r.indicator,
                r.summary,
                r.triggers,
                source=r.source,
                evidence=r.evidence,
                hook=r.hook,
                now=r.now,
                card=r.card,
            )
            for r in collected
            if r.rule
        ),
        key=lambda row: (row.patient, row.rule),
    )
    failed = [
        PatientOutcome(r.patient, r.source, [], r.error_kind, r.error) for r in collected if r.error_kind
    ]
    patients = len({r.patient for r in collected})
    return BatchResult(patients, findings, failed, problems, time.monotonic() - started)


class _TaskWatcher:
    """Polls Spark's status tracker from a daemon thread and reports tasks done over tasks known."""

    def __init__(self, spark: Any, report: Callable[[int, int, int], None]) -> None:
        self._tracker = spark.sparkContext.statusTracker()
        self._report = report
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mdrcds-spark-progress", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopped.wait(0.5):
            try:
                self._poll()
            except Exception:  # the JVM going away at the end of a run must not end the run
                return

    def _poll(self) -> None:
        done = total = 0
        jobs = self._tracker.getJobIdsForGroup(None)
        for job_id in jobs:
            job = self._tracker.getJobInfo(job_id)
            for stage_id in job.stageIds if job else ():
                stage = self._tracker.getStageInfo(stage_id)
                # A finished job's stages that never ran were skipped (their input was cached).
                skipped = job.status == "SUCCEEDED" and stage is not None and stage.numCompletedTasks == 0
                if stage is not None and not skipped:
                    done += stage.numCompletedTasks
                    total += stage.numTasks
        self._report(done, total, len(jobs))

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=2)
        with contextlib.suppress(Exception):
            self._poll()
