"""Batch runs: the same per-patient evaluation as the service, over a population.

`evaluate_record` is the unit of work (also used by the Spark runner). `run_local` spreads it over
worker processes, shows progress, and writes `findings.csv`, `findings.parquet`, `summary.json` and
`report.html` into the output directory. A patient that cannot be evaluated is counted and listed in
the summary; the run goes on.
"""

from __future__ import annotations

import csv
import multiprocessing
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import orjson

from mdrcds.errors import MdrcdsError
from mdrcds.knowledge.rulebook import Rulebook, load_rulebook
from mdrcds.reading.population import PatientRecord, ReadProblem, records
from mdrcds.reasoning.engine import Engine
from mdrcds.service import evaluate, warm_up

FINDING_COLUMNS = (
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
)
"""findings.csv / findings.parquet: patient, the file it was read from, rule, evidence grade, indicator,
hook, evaluation date, card uuid, card summary and the triggering resources."""


@dataclass(frozen=True)
class FindingRow:
    """One rule that fired for one patient; `triggers` are the resources, ';'-separated and sorted."""

    patient: str
    rule: str
    indicator: str
    summary: str
    triggers: str
    source: str = ""
    evidence: str = ""
    hook: str = ""
    now: str = ""
    card: str = ""


@dataclass
class PatientOutcome:
    patient: str
    source: str
    findings: list[FindingRow] = field(default_factory=list)
    error_kind: str | None = None
    error: str | None = None


def evaluate_record(
    record: PatientRecord, rulebook: Rulebook, engine: Engine, now: date, hook: str
) -> PatientOutcome:
    """Evaluate one patient; errors become part of the outcome, never an exception."""
    outcome = PatientOutcome(record.patient_id, record.source)
    try:
        evaluation = evaluate(
            record.document,
            rulebook=rulebook,
            engine=engine,
            now=now,
            default_hook=hook,
            source=record.source,
            include_research=True,
            include_silent=True,
        )
    except MdrcdsError as exc:
        outcome.error_kind = type(exc).__name__
        outcome.error = str(exc).splitlines()[0]
        return outcome
    patient = evaluation.patient_id or record.patient_id
    outcome.patient = patient
    for finding, card in zip(evaluation.findings, evaluation.cards, strict=True):
        sources = sorted({fact.source for match in finding.matches for fact in match.values()})
        outcome.findings.append(
            FindingRow(
                patient,
                finding.rule.id,
                str(card["indicator"]),
                str(card["summary"]),
                ";".join(sources),
                source=record.source,
                evidence=finding.rule.evidence.grade,
                hook=evaluation.hook,
                now=now.isoformat(),
                card=str(card["uuid"]),
            )
        )
    return outcome


# --- worker processes ---------------------------------------------------------------------------------

_WORKER: dict[str, Any] = {}


def _init_worker(rules_dir: Path | None, now: date, hook: str) -> None:
    rulebook = load_rulebook(rules_dir)
    _WORKER.update(rulebook=rulebook, engine=Engine(rulebook), now=now, hook=hook)
    warm_up(context=False)


def _work(record: PatientRecord) -> PatientOutcome:
    return evaluate_record(record, _WORKER["rulebook"], _WORKER["engine"], _WORKER["now"], _WORKER["hook"])


# --- progress -------------------------------------------------------------------------------------------


ProgressCallback = Callable[[int, int, int], None]
"""Told (patients done, patients with cards, errors) at most every 0.1 s and once at the end."""


# --- the local runner -----------------------------------------------------------------------------------


@dataclass
class BatchResult:
    patients: int
    findings: list[FindingRow]
    failed: list[PatientOutcome]
    read_problems: list[ReadProblem]
    elapsed: float


def outcomes(
    items: Iterable[PatientRecord], workers: int, rules_dir: Path | None, now: date, hook: str
) -> Iterator[PatientOutcome]:
    """Evaluate every record, in `workers` processes (1: in this process)."""
    if workers <= 1:
        _init_worker(rules_dir, now, hook)
        yield from map(_work, items)
        return
    context = multiprocessing.get_context("forkserver")
    with context.Pool(workers, initializer=_init_worker, initargs=(rules_dir, now, hook)) as pool:
        yield from pool.imap_unordered(_work, items, chunksize=8)


def run_local(
    inputs: Sequence[Path],
    *,
    now: date,
    hook: str = "patient-view",
    workers: int = 1,
    rules_dir: Path | None = None,
    progress: ProgressCallback | None = None,
) -> BatchResult:
    """Evaluate every patient under `inputs`."""
    started = time.monotonic()
    problems: list[ReadProblem] = []
    findings: list[FindingRow] = []
    failed: list[PatientOutcome] = []
    patients = with_cards = 0
    told = 0.0
    for outcome in outcomes(records(inputs, problems), workers, rules_dir, now, hook):
        patients += 1
        if outcome.error_kind:
            failed.append(outcome)
        elif outcome.findings:
            with_cards += 1
            findings.extend(outcome.findings)
        if progress and time.monotonic() - told >= 0.1:
            told = time.monotonic()
            progress(patients, with_cards, len(failed))
    if progress:
        progress(patients, with_cards, len(failed))
    findings.sort(key=lambda row: (row.patient, row.rule))
    return BatchResult(patients, findings, failed, problems, time.monotonic() - started)


# --- outputs ----------------------------------------------------------------------------------------------


def parquet_available() -> bool:
    """Whether findings.parquet can be written (the `parquet` extra, pyarrow, is installed)."""
    try:
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        return False
    return True


def write_findings(rows: Sequence[FindingRow], out: Path, parquet: bool = True) -> None:
    """findings.csv, and findings.parquet unless Spark wrote it or pyarrow is not installed."""
    with (out / "findings.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(FINDING_COLUMNS)
        writer.writerows(tuple(getattr(r, column) for column in FINDING_COLUMNS) for r in rows)
    if not parquet or not parquet_available():
        return
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {column: [getattr(r, column) for r in rows] for column in FINDING_COLUMNS},
        schema=pa.schema([(c, pa.string()) for c in FINDING_COLUMNS]),
    )
    pq.write_table(table, out / "findings.parquet")


def against_truth(findings: Sequence[FindingRow], truth: dict[str, set[str]]) -> dict[str, dict[str, int]]:
    """Per rule, over the patients of a synthetic cohort's ground truth: planted (expected to fire),
    fired, both, fired but not planted, planted but not fired."""
    fired: dict[str, set[str]] = {}
    for row in findings:
        if row.patient in truth:
            fired.setdefault(row.rule, set()).add(row.patient)
    planted: dict[str, set[str]] = {}
    for patient, rules in truth.items():
        for rule in rules:
            planted.setdefault(rule, set()).add(patient)
    return {
        rule: {
            "planted": len(planted.get(rule, set())),
            "fired": len(fired.get(rule, set())),
            "both": len(planted.get(rule, set()) & fired.get(rule, set())),
            "fired_not_planted": len(fired.get(rule, set()) - planted.get(rule, set())),
            "planted_not_fired": len(planted.get(rule, set()) - fired.get(rule, set())),
        }
        for rule in sorted(set(planted) | set(fired))
    }


def summary(
    result: BatchResult,
    rulebook: Rulebook,
    *,
    now: date,
    hook: str,
    engine: str,
    workers: int,
    command: list[str],
) -> dict[str, Any]:
    """The run's summary.json document."""
    per_rule = Counter(row.rule for row in result.findings)
    evaluated = result.patients - len(result.failed)
    errors = Counter(o.error_kind for o in result.failed) + Counter(p.kind for p in result.read_problems)
    return {
        "command": command,
        "rulebook": rulebook.version,
        "now": now.isoformat(),
        "hook": hook,
        "engine": engine,
        "workers": workers,
        "patients": result.patients,
        "patients_evaluated": evaluated,
        "patients_with_cards": len({row.patient for row in result.findings}),
        "findings": len(result.findings),
        "rules": {
            rule.id: {
                "indicator": rule.indicator,
                "evidence": rule.evidence.grade,
                "patients": per_rule.get(rule.id, 0),
                "rate": per_rule.get(rule.id, 0) / evaluated if evaluated else 0.0,
            }
            for rule in sorted(rulebook.rules, key=lambda r: r.id)
        },
        "errors": dict(sorted(errors.items())),
        "failed_patients": [
            {"patient": o.patient, "source": o.source, "kind": o.error_kind, "error": o.error}
            for o in result.failed[:100]
        ],
        "read_problems": [asdict(p) for p in result.read_problems[:100]],
        "elapsed_seconds": round(result.elapsed, 3),
        "patients_per_second": round(result.patients / result.elapsed, 1) if result.elapsed else None,
    }


def write_summary(document: dict[str, Any], out: Path) -> None:
    (out / "summary.json").write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n")
