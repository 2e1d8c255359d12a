"""The `mdrcds` command (typer + rich): evaluate FHIR data from files, test and list the rulebook, run
a population, serve CDS Hooks.

Exit codes, for every command: 0 ok; 1 findings differ or some inputs failed; 2 a usage error, or
nothing readable was given.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NamedTuple, TextIO

import orjson
import typer
from rich.console import Console
from rich.table import Table

from mdrcds.errors import ConfigurationError, EngineError, InputError, MdrcdsError, NotAnInput
from mdrcds.knowledge import export as knowledge_export
from mdrcds.knowledge.rulebook import Rulebook, check_rulebook, default_rules_dir, load_rulebook
from mdrcds.knowledge.ruledocs import catalogue
from mdrcds.reading.fhir import build_resource
from mdrcds.reasoning.engine import Engine
from mdrcds.research.testcases import stated_now
from mdrcds.service import Evaluation, evaluate, warm_up
from mdrcds.settings import Settings

_COLOURS = {"critical": "\033[1;31m", "warning": "\033[1;33m", "info": "\033[1;36m"}
_RESET = "\033[0m"
OK, FAILED, USAGE = 0, 1, 2
WARM_UP_FROM_FILES = 10
"""From this many inputs `mdrcds evaluate` loads every FHIR model up front (about 0.2 s, once); one
file loads only the models it needs, on first use."""
NOTHING_TO_EVALUATE = "error: nothing to evaluate: give CDS Hooks requests or FHIR JSON files"
COMMAND_LINE: list[str] = []
"""The command line being run (recorded in batch summaries)."""
EXIT_CODES = "Exit codes: 0 ok; 1 findings differ or some inputs failed; 2 usage error or nothing readable."

app = typer.Typer(
    name="mdrcds",
    help=(
        "Clinical decision support for oncology: MDR and immunotherapy-resistance patterns as CDS Hooks "
        f"cards.\n\n{EXIT_CODES}"
    ),
    no_args_is_help=True,
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)
rules_app = typer.Typer(help="Check, list, document and export the rulebook.", no_args_is_help=True)
api_app = typer.Typer(help="The HTTP contract files (api/).", no_args_is_help=True)
app.add_typer(rules_app, name="rules")
app.add_typer(api_app, name="api")


class Hook(StrEnum):
    patient_view = "patient-view"
    order_select = "order-select"
    order_sign = "order-sign"


class OutputFormat(StrEnum):
    text = "text"
    json = "json"
    detectedissue = "detectedissue"


class FhirVersion(StrEnum):
    R4 = "R4"
    R5 = "R5"


class BatchEngine(StrEnum):
    local = "local"
    spark = "spark"


def _parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"not a date (YYYY-MM-DD): {text!r}") from None


RulesOption = Annotated[
    Path | None,
    typer.Option("--rules", help="Rules directory (default: the built-in rulebook).", show_default=False),
]
NowOption = Annotated[
    date | None,
    typer.Option(
        "--now",
        parser=_parse_date,
        metavar="YYYY-MM-DD",
        help="Evaluation date (default: the date stated beside a sample, else today).",
        show_default=False,
    ),
]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `mdrcds` console script; returns the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    COMMAND_LINE[:] = ["mdrcds", *args]
    try:
        result = app(args=args, prog_name="mdrcds", standalone_mode=False)
    except typer.Abort:
        print("mdrcds: stopped", file=sys.stderr)
        return FAILED
    except typer.TyperException as exc:  # a usage error (typer's click): bad option, value or command
        context = getattr(exc, "ctx", None)
        command = context.command_path if context is not None else "mdrcds"
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        print(f"mdrcds: error: {message} (see `{command} --help`)", file=sys.stderr)
        return USAGE
    except MdrcdsError as exc:
        for line in str(exc).splitlines() or [type(exc).__name__]:
            print(f"mdrcds: error: {line}", file=sys.stderr)
        return USAGE
    except BrokenPipeError:
        return OK
    return result if isinstance(result, int) else OK


def _stderr(message: str) -> None:
    print(f"mdrcds: {message}", file=sys.stderr)


# --- evaluate --------------------------------------------------------------------------------------------


class Candidate(NamedTuple):
    """A file to evaluate: named on the command line, or found in a directory (`named` False), where
    JSON that is neither a CDS Hooks request nor a FHIR resource is passed over rather than refused.
    `size` is what the file system reports (0 for a pipe)."""

    path: Path
    named: bool
    size: int = 0


@dataclass
class Inputs:
    """The files to evaluate under the paths given, and the paths that do not exist."""

    files: list[Candidate]
    missing: list[Path]


def find_inputs(paths: Sequence[Path]) -> Inputs:
    """The files under `paths`: each file named, and every `*.json` file in each directory named.
    Nothing is read here: each file is read once, when it is evaluated."""
    files: list[Candidate] = []
    missing = [path for path in paths if not path.exists()]
    for path in paths:
        if path.is_dir():
            files.extend(
                Candidate(p, named=False, size=_size(p)) for p in sorted(path.rglob("*.json")) if p.is_file()
            )
        elif path.exists():
            files.append(Candidate(path, named=True, size=_size(path)))
    return Inputs(files, missing)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:  # gone since it was listed: reading it says so
        return 0


def evaluation_order(files: Sequence[Candidate]) -> list[int]:
    """The order to evaluate `files` in (positions in `files`): the largest first, then the rest as
    given. The JSON parser's buffers only ever grow, and each growth is fresh memory the system maps
    page by page; read in the order given, they grow with each larger file (docs/performance.md)."""
    if not files:
        return []
    largest = max(range(len(files)), key=lambda position: files[position].size)
    return [largest, *(position for position in range(len(files)) if position != largest)]


class Outcome(NamedTuple):
    """What evaluating one file will print (its output or its error), and the time it took."""

    ms: float
    output: str = ""
    error: str | None = None


@app.command(
    "evaluate",
    epilog=(
        "Examples:\n\n"
        "    mdrcds evaluate fhir_samples/mdr1-pembrolizumab-verapamil-order-select/request.json\n\n"
        "    mdrcds evaluate fhir_samples --format json > responses.ndjson\n\n"
        "    mdrcds evaluate patient-bundle.json --hook order-sign --now 2026-11-23\n\n" + EXIT_CODES
    ),
)
def evaluate_command(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="CDS Hooks request or FHIR JSON files, or directories of them.", show_default=False
        ),
    ],
    hook: Annotated[
        Hook | None,
        typer.Option(
            help="Hook for Bundles and resources (default patient-view); a request says its own.",
            show_default=False,
        ),
    ] = None,
    now: NowOption = None,
    output: Annotated[
        OutputFormat,
        typer.Option(
            "--format",
            "-f",
            help=(
                "text for people; json: one CDS Hooks response per line; "
                "detectedissue: a Bundle of DetectedIssues per input."
            ),
        ),
    ] = OutputFormat.text,
    fhir_version: Annotated[
        FhirVersion, typer.Option("--fhir-version", help="FHIR version of the input.")
    ] = FhirVersion.R4,
    rules: RulesOption = None,
    research: Annotated[
        bool, typer.Option("--research", help="Also show the cards of research-mode and silent rules.")
    ] = False,
    timing: Annotated[
        bool,
        typer.Option(
            "--timing",
            help="Print to stderr the time per input (reading the file to cards; start-up apart).",
        ),
    ] = False,
) -> int:
    """Evaluate CDS Hooks requests, Bundles or FHIR resources and print the cards."""
    found = find_inputs(paths)
    for path in found.missing:
        _stderr(f"error: {path}: no such file or directory")
    if not found.files:
        _stderr(NOTHING_TO_EVALUATE)
        return USAGE
    engine = Engine(load_rulebook(rules))
    if len(found.files) >= WARM_UP_FROM_FILES:
        warm_up(context=False)
    started = time.perf_counter()
    colour = output is OutputFormat.text and sys.stdout.isatty() and "NO_COLOR" not in os.environ
    failures = len(found.missing)
    passed_over = 0
    times: list[float] = []
    held: dict[int, Outcome | None] = {}  # None: passed over
    shown = 0
    for position in evaluation_order(found.files):
        held[position] = _evaluate_candidate(
            found.files[position], hook, now, fhir_version, research, engine, output, colour
        )
        # Shown in the order given: only the largest file, evaluated first, waits for its turn.
        while shown in held:
            outcome = held.pop(shown)
            shown += 1
            if outcome is None:
                passed_over += 1
                continue
            times.append(outcome.ms)
            if outcome.error is not None:
                failures += 1
                _stderr(f"error: {outcome.error}")
            sys.stdout.write(outcome.output)
    if passed_over:
        _stderr(
            f"passed over {passed_over} JSON file(s) that are neither a CDS Hooks request nor a FHIR resource"
        )
    if not times:
        _stderr(NOTHING_TO_EVALUATE)
        return USAGE
    if timing:
        _stderr(
            f"{len(times)} inputs in {(time.perf_counter() - started) * 1000:,.0f} ms with output: reading "
            f"to cards, mean {statistics.mean(times):.2f} ms, median {statistics.median(times):.2f} ms, "
            f"max {max(times):.2f} ms per input (start-up not included)"
        )
    return FAILED if failures else OK


@app.command(
    "explain",
    epilog=(
        "Examples:\n\n"
        "    mdrcds explain mdr1-inhibitor-with-immunotherapy "
        "fhir_samples/mdr1-pembrolizumab-verapamil-order-select/request.json\n\n"
        "    mdrcds explain checkpoint-inhibitor-in-solid-organ-transplant my-patient.json --json\n\n"
        + EXIT_CODES
    ),
)
def explain_command(
    rule_id: Annotated[str, typer.Argument(metavar="RULE", help="The rule id (see `mdrcds rules list`).")],
    path: Annotated[Path, typer.Argument(metavar="INPUT", help="A CDS Hooks request or FHIR JSON file.")],
    hook: Annotated[
        Hook | None,
        typer.Option(help="Hook for Bundles and resources (default patient-view).", show_default=False),
    ] = None,
    now: NowOption = None,
    rules: RulesOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the explanation as JSON.")] = False,
) -> int:
    """Why a rule did or did not fire for one input: for each of its patterns, the facts that matched,
    or the nearest miss and which condition failed, in clinical words."""
    from mdrcds.research.explain import explain

    rulebook = load_rulebook(rules)
    rule = next((r for r in rulebook.rules if r.id == rule_id), None)
    if rule is None:
        _stderr(f"error: no rule {rule_id!r} (see `mdrcds rules list`)")
        return USAGE
    if not path.is_file():
        _stderr(f"error: {path}: no such file")
        return USAGE
    engine = Engine(rulebook)
    when = now or stated_now(path) or date.today()
    try:
        evaluation = evaluate(
            path.read_bytes(),
            rulebook=rulebook,
            engine=engine,
            now=when,
            default_hook=hook.value if hook else "patient-view",
            source=str(path),
            include_research=True,
            include_silent=True,
        )
    except InputError as exc:
        _stderr(f"error: {exc}")
        return FAILED
    explanation = explain(rule, evaluation, rulebook, when)
    if as_json:
        document = {
            "rule": rule.id,
            "fired": explanation.fired,
            "now": when.isoformat(),
            "hook": evaluation.hook,
            "card": explanation.summary,
            "patterns": [
                {
                    "alias": report.alias,
                    "wants": report.wants,
                    "matched": [fact.describe() for fact in report.matched],
                    "nearest": report.nearest.describe() if report.nearest else None,
                    "failed": [condition.reason for condition in report.failed],
                    "absent": report.absent or None,
                }
                for report in explanation.patterns
            ],
            "notes": explanation.notes,
        }
        sys.stdout.write(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        print(f"{path}: {evaluation.hook} at {when.isoformat()}")
        print(explanation.text())
    return OK


def _evaluate_candidate(
    candidate: Candidate,
    hook: Hook | None,
    now: date | None,
    fhir_version: FhirVersion,
    research: bool,
    engine: Engine,
    output: OutputFormat,
    colour: bool,
) -> Outcome | None:
    """Evaluate one file; None when it is passed over (other JSON found in a directory)."""
    path, named, _ = candidate
    when = now or stated_now(path) or date.today()
    begun = time.perf_counter()
    try:
        evaluation = _evaluate_file(path, hook.value if hook else None, fhir_version, research, engine, when)
    except InputError as exc:
        if isinstance(exc, NotAnInput) and not named:  # a golden case's expected.json, a settings file
            return None
        return Outcome((time.perf_counter() - begun) * 1000, error=str(exc))
    ms = (time.perf_counter() - begun) * 1000
    if output is OutputFormat.json:
        return Outcome(ms, orjson.dumps(evaluation.response()).decode() + "\n")
    if output is OutputFormat.detectedissue:
        issues = evaluation.detected_issues(engine.rulebook, when)
        bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": i} for i in issues]}
        return Outcome(ms, orjson.dumps(build_resource(bundle)).decode() + "\n")
    text = io.StringIO()
    _print_text(evaluation, text, colour)
    return Outcome(ms, text.getvalue())


def _evaluate_file(
    path: Path, hook: str | None, fhir_version: FhirVersion, research: bool, engine: Engine, now: date
) -> Evaluation:
    if path.suffix.lower() in (".yaml", ".yml"):
        raise InputError(f"{path}: this is a YAML test case: use `mdrcds test {path}`")
    try:
        # The file goes straight into the JSON parser's buffer (no bytes object, no copy).
        evaluation = evaluate(
            path,
            rulebook=engine.rulebook,
            engine=engine,
            now=now,
            default_hook=hook or "patient-view",
            fhir_version="R5" if fhir_version is FhirVersion.R5 else "R4",
            source=str(path),
            include_research=research,
            include_silent=research,
        )
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    if hook and evaluation.hook != hook:
        raise InputError(f"{path}: is a {evaluation.hook!r} request; --hook {hook} does not apply to it")
    return evaluation


def _print_text(evaluation: Evaluation, out: TextIO, colour: bool) -> None:
    patient = f"Patient/{evaluation.patient_id}" if evaluation.patient_id else "no Patient resource"
    count = len(evaluation.cards)
    out.write(f"{evaluation.source}: {evaluation.hook}, {patient}: {count} card{'s' if count != 1 else ''}\n")
    if evaluation.withheld:
        out.write(f"    {evaluation.withheld}\n")
    for card in evaluation.cards:
        tag = f"[{card['indicator'].upper()}]"
        if colour:
            tag = _COLOURS[card["indicator"]] + tag + _RESET
        out.write(f"\n{tag} {card['summary']}\n")
        for line in card["detail"].splitlines():
            out.write(f"    {_terminal(line, colour)}\n" if line else "\n")
        source = card["source"]
        out.write(f"    Source: {source['label']}, rule {source['topic']['code']}\n")
        for suggestion in card.get("suggestions", []):
            out.write(f"    Suggestion: {suggestion['label']}\n")
    out.write("\n")


def _terminal(markdown: str, colour: bool) -> str:
    """A line of card Markdown for a terminal: bold as ANSI bold (or nothing), escapes removed."""
    parts = markdown.split("**")
    bold = [f"\033[1m{part}{_RESET}" if colour else part for part in parts[1::2]]
    parts[1::2] = bold
    text = "".join(parts)
    return re.sub(r"\\(.)", r"\1", text)


@app.command(
    "test",
    epilog=(
        "Examples:\n\n"
        "    mdrcds test tests/cases\n\n"
        "    mdrcds test fhir_samples --coverage\n\n"
        "    mdrcds test my-case.yaml --junit results.xml\n\n" + EXIT_CODES
    ),
)
def test_command(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="YAML test cases, golden case directories (request.json + expected.json), or folders.",
            show_default=False,
        ),
    ],
    junit: Annotated[
        Path | None, typer.Option(help="Also write a JUnit XML report here.", show_default=False)
    ] = None,
    show_coverage: Annotated[
        bool, typer.Option("--coverage", help="Show which rules the cases make fire and not fire.")
    ] = False,
    rules: RulesOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as one JSON document.")] = False,
    quiet: QuietOption = False,
) -> int:
    """Run rule test cases and say which pass."""
    from mdrcds.research.testcases import coverage, find_cases, junit_xml, run_path

    missing = [path for path in paths if not path.exists()]
    for path in missing:
        _stderr(f"error: {path}: no such file or directory")
    rulebook = load_rulebook(rules)
    engine = Engine(rulebook)
    cases = list(find_cases([path for path in paths if path.exists()]))
    if not cases:
        _stderr("error: no test cases found (YAML files, or folders with request.json and expected.json)")
        return USAGE
    with _progress(quiet or as_json, "cases") as progress:
        task = progress.add_task("testing", total=len(cases))
        results = []
        for path in cases:
            results.append(run_path(path, rulebook, engine))
            progress.advance(task)
    failed = [r for r in results if not r.passed]
    table = coverage(results, rulebook)
    if junit:
        junit.write_bytes(junit_xml(results))
    if as_json:
        document: dict[str, Any] = {
            "passed": len(results) - len(failed),
            "failed": len(failed),
            "cases": [
                {
                    "name": r.loaded.case.name,
                    "path": str(r.loaded.path),
                    "passed": r.passed,
                    "problems": r.problems,
                }
                for r in results
            ],
            "coverage": table,
        }
        sys.stdout.write(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n")
        return FAILED if failed or missing else OK
    console = _console()
    for result in results:
        if result.passed:
            console.print(f"[green]PASS[/] {result.loaded.case.name}", markup=True)
        else:
            console.print(f"[red]FAIL[/] {result.loaded.case.name} ({result.loaded.path})", markup=True)
            for problem in result.problems:
                console.print(f"    {problem}", markup=False)
    if show_coverage:
        grid = Table(title="Coverage: cases that make each rule fire, and not fire")
        grid.add_column("rule")
        grid.add_column("fired", justify="right")
        grid.add_column("not fired", justify="right")
        for rule_id, counts in sorted(table.items()):
            grid.add_row(rule_id, str(counts["fired"]), str(counts["not_fired"]))
        console.print(grid)
        untested = [rule_id for rule_id, counts in sorted(table.items()) if not counts["fired"]]
        console.print(
            f"rules no case makes fire: {', '.join(untested) if untested else 'none'}", markup=False
        )
    console.print(f"\n{len(results) - len(failed)} cases passed, {len(failed)} failed", markup=False)
    return FAILED if failed or missing else OK


def _progress(quiet: bool, unit: str) -> Any:
    """A rich progress bar on stderr (total, rate, ETA); silent when quiet or stderr is not a terminal."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        Task,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class Rate(ProgressColumn):
        def render(self, task: Task) -> Text:
            return Text(f"{task.speed or 0:,.0f} {unit}/s")

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        Rate(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=quiet or not sys.stderr.isatty(),
    )


@app.command(
    "batch",
    epilog=(
        "Examples:\n\n"
        "    mdrcds batch fhir_samples/synthea --out results --now 2026-11-23\n\n"
        "    mdrcds batch export/ --out results --workers 4           (a Bulk Data NDJSON export)\n\n"
        "    mdrcds batch export/ --out results --engine spark --master local[2]   (needs Java 17)\n\n"
        "Writes findings.csv, findings.parquet, summary.json and report.html to --out.\n\n" + EXIT_CODES
    ),
)
def batch_command(
    inputs: Annotated[
        list[Path],
        typer.Argument(
            help="Bundle files (.json), Bulk Data NDJSON exports (.ndjson), or directories of them.",
            show_default=False,
        ),
    ],
    out: Annotated[Path, typer.Option(help="Output directory (created if needed).", show_default=False)],
    now: NowOption = None,
    hook: Annotated[Hook, typer.Option(help="The hook every patient is evaluated for.")] = Hook.patient_view,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes (local engine).")] = os.cpu_count()
    or 1,
    rules: RulesOption = None,
    engine: Annotated[
        BatchEngine, typer.Option(help="local processes, or Apache Spark (needs Java 17).")
    ] = BatchEngine.local,
    master: Annotated[
        str | None,
        typer.Option(help="Spark master URL (default: spark-submit's, or local[2]).", show_default=False),
    ] = None,
    quiet: QuietOption = False,
) -> int:
    """Evaluate a population and write findings, a summary and a report."""
    from mdrcds.reading.population import count_patients
    from mdrcds.research.batch import (
        against_truth,
        parquet_available,
        run_local,
        summary,
        write_findings,
        write_summary,
    )
    from mdrcds.research.report import render_report
    from mdrcds.research.synth import read_truth

    wrong = [f"{path}: no such file or directory" for path in inputs if not path.exists()]
    wrong += [
        f"{path}: not a Bundle (.json), an NDJSON export (.ndjson) or a directory"
        + (
            "; this is a YAML test case: use `mdrcds test`"
            if path.suffix.lower() in (".yaml", ".yml")
            else ""
        )
        for path in inputs
        if path.is_file() and path.suffix.lower() not in (".json", ".ndjson")
    ]
    if wrong:
        for line in wrong:
            _stderr(f"error: {line}")
        return USAGE
    if engine is BatchEngine.spark and not (os.environ.get("JAVA_HOME") or shutil.which("java")):
        _stderr("error: --engine spark needs Java 17 (set JAVA_HOME or put java on PATH)")
        return USAGE
    when = now or date.today()
    rulebook = load_rulebook(rules)
    out.mkdir(parents=True, exist_ok=True)
    if engine is BatchEngine.spark:
        from mdrcds.research.spark import run_spark

        _stderr(f"running on Spark ({master or 'default master'})")
        with _progress(quiet, "Spark tasks") as progress:
            task = progress.add_task("starting Spark", total=None)
            result = run_spark(
                inputs,
                out,
                now=when,
                hook=hook.value,
                master=master,
                rules_dir=rules,
                progress=lambda done, total, jobs: progress.update(
                    task, completed=done, total=total or None, description=f"Spark job {jobs}"
                ),
            )
    else:
        with _progress(quiet, "patients") as progress:
            task = progress.add_task("patients", total=count_patients(inputs))
            result = run_local(
                inputs,
                now=when,
                hook=hook.value,
                workers=workers,
                rules_dir=rules,
                progress=lambda done, with_cards, errors: progress.update(
                    task, completed=done, description=f"{with_cards:,} with cards, {errors:,} errors"
                ),
            )
    if result.patients == 0:
        _stderr(f"error: no patients found in {', '.join(map(str, inputs))}")
        for problem in result.read_problems[:20]:
            _stderr(f"skipped {problem.source}: {problem.kind}: {problem.message}")
        return USAGE
    document = summary(
        result,
        rulebook,
        now=when,
        hook=hook.value,
        engine=engine.value,
        workers=workers,
        command=COMMAND_LINE,
    )
    if engine is BatchEngine.spark:
        document["master"] = master or "spark-submit default or local[2]"
    truths = [truth for path in inputs if path.is_dir() and (truth := read_truth(path)) is not None]
    if truths:
        truth = {patient: rules for part in truths for patient, rules in part.items()}
        document["ground_truth"] = {
            "note": (
                "a synthetic cohort: fired versus planted tests the pipeline, it is not clinical validation"
            ),
            "rules": against_truth(result.findings, truth),
        }
    write_findings(result.findings, out, parquet=engine is BatchEngine.local)
    write_summary(document, out)
    (out / "report.html").write_text(render_report(document, result.findings))
    for outcome in result.failed[:20]:
        _stderr(f"skipped patient {outcome.patient} ({outcome.source}): {outcome.error}")
    for problem in result.read_problems[:20]:
        _stderr(f"skipped {problem.source}: {problem.kind}: {problem.message}")
    if "ground_truth" in document:
        _truth_table(document["ground_truth"]["rules"])
    parquet = engine is BatchEngine.spark or parquet_available()
    print(
        f"{result.patients:,} patients, {document['patients_with_cards']:,} with cards, "
        f"{len(result.failed):,} failed; wrote findings.csv, {'findings.parquet, ' if parquet else ''}"
        f"summary.json, report.html to {out}"
    )
    if not parquet:
        _stderr("findings.parquet not written: it needs the parquet extra (pip install 'mdrcds[parquet]')")
    return OK


def _truth_table(rows: dict[str, dict[str, int]]) -> None:
    table = Table(title="Synthetic cohort: patients per rule, fired versus planted (not clinical validation)")
    for column in ("rule", "planted", "fired", "both", "fired, not planted", "planted, not fired"):
        table.add_column(column, justify="left" if column == "rule" else "right")
    for rule, counts in rows.items():
        table.add_row(
            rule,
            *(
                f"{counts[k]:,}"
                for k in ("planted", "fired", "both", "fired_not_planted", "planted_not_fired")
            ),
        )
    _console().print(table)


@app.command(
    "token",
    epilog=(
        "Example:\n\n"
        '    eval "$(mdrcds token --aud http://127.0.0.1:8080/cds-services --env)"   '
        "(sets MDRCDS_TRUSTED_ISSUERS for a local serve)\n\n"
        '    curl -H "Authorization: Bearer $(mdrcds token --aud http://127.0.0.1:8080/cds-services)" '
        "http://127.0.0.1:8080/cds-services\n\n" + EXIT_CODES
    ),
)
def token_command(
    aud: Annotated[str, typer.Option(help="The URL the token is for (the service's URL being called).")],
    key_dir: Annotated[Path, typer.Option(help="Where the development key is kept.")] = Path(".mdrcds-dev"),
    lifetime: Annotated[int, typer.Option(min=10, max=3600, help="Seconds the token is valid.")] = 300,
    env: Annotated[
        bool,
        typer.Option("--env", help="Print the MDRCDS_TRUSTED_ISSUERS export that trusts the key instead."),
    ] = False,
) -> int:
    """Mint a test JWT with a local development key, for curl against a service on this machine.

    Development only: it refuses an audience that is not a loopback URL, and its issuer
    (urn:mdrcds:development-token) must never be trusted in production."""
    from mdrcds.web.auth import AuthError, mint_dev_token

    try:
        minted = mint_dev_token(aud, key_dir, lifetime)
    except AuthError as exc:
        _stderr(f"error: {exc}")
        return USAGE
    if env:
        print(f"export MDRCDS_TRUSTED_ISSUERS='{minted.trusted_issuers}'")
    else:
        print(minted.token)
    return OK


@app.command(
    "synth",
    epilog=(
        "Examples:\n\n"
        "    mdrcds synth --patients 1000 --seed 7 --out cohort\n\n"
        "    mdrcds batch cohort --out results --now 2026-11-23      (fired versus planted per rule)\n\n"
        "    mdrcds synth --patients 50 --layout bundles --out cohort-bundles\n\n" + EXIT_CODES
    ),
)
def synth_command(
    patients: Annotated[int, typer.Option(min=1, help="How many patients.")] = 1000,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same cohort.")] = 1,
    out: Annotated[Path, typer.Option(help="Output directory.")] = Path("cohort"),
    prevalence: Annotated[
        float,
        typer.Option(min=0.0, max=1.0, help="Share of patients in whom each rule's pattern is planted."),
    ] = 0.02,
    layout: Annotated[
        str, typer.Option(help="ndjson (a Bulk Data export) or bundles (one per patient).")
    ] = "ndjson",
    samples: Annotated[
        Path, typer.Option(help="Golden cases the patients are made from (patient-view cases).")
    ] = Path("fhir_samples"),
    now: Annotated[
        str, typer.Option(help="The cohort's evaluation date: the golden cases' own.")
    ] = "2026-11-23",
    quiet: QuietOption = False,
) -> int:
    """Write a synthetic oncology cohort with each rule's pattern planted, and its ground truth.

    A test of the pipeline at scale, not clinical validation: each patient is a re-identified golden
    case, and the prevalences are chosen, not observed."""
    from mdrcds.research.synth import write_cohort

    if layout not in ("ndjson", "bundles"):
        _stderr(f"error: --layout must be ndjson or bundles, not {layout!r}")
        return USAGE
    if not samples.is_dir():
        _stderr(f"error: {samples}: no such directory (the golden cases the cohort is made from)")
        return USAGE
    with _progress(quiet, "patients") as progress:
        task = progress.add_task("writing", total=patients)
        try:
            document = write_cohort(
                out,
                patients,
                seed=seed,
                prevalence=prevalence,
                samples=samples,
                now=now,
                layout="bundles" if layout == "bundles" else "ndjson",
                progress=lambda done: progress.update(task, completed=done),
            )
        except ValueError as exc:
            _stderr(f"error: {exc}")
            return USAGE
    planted = sum(document["expected_patients_per_rule"].values())
    print(
        f"wrote {patients:,} patients to {out} ({planted:,} planted patterns); "
        f"ground truth in {out}/ground-truth.csv"
    )
    return OK


def _settings() -> Settings:
    from pydantic import ValidationError

    try:
        return Settings()
    except ValidationError as exc:
        problems = [f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors()]
        raise ConfigurationError(problems) from None


@app.command(
    "serve",
    epilog=(
        "Examples:\n\n"
        "    MDRCDS_AUTH=off mdrcds serve                 (a local demo: no authentication)\n\n"
        "    mdrcds serve --host 0.0.0.0 --port 8080 --workers 4\n\n"
        "Settings are MDRCDS_* environment variables (docs/service.md lists them and every limit).\n\n"
        + EXIT_CODES
    ),
)
def serve_command(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
) -> int:
    """Run the CDS Hooks service (and the pages, with MDRCDS_PAGES=true)."""
    import logging
    import logging.config

    import uvicorn
    from pydantic import ValidationError

    from mdrcds.store.database import Store, StoreUnavailable
    from mdrcds.web.connections import ConnectionLimits, GuardedHttpToolsProtocol
    from mdrcds.web.logs import LOG_CONFIG

    settings = _settings()
    try:  # read here too (each worker reads it again), so that a bad value stops the start with a message
        limits = ConnectionLimits()
    except ValidationError as exc:
        problems = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
        raise ConfigurationError(problems) from None
    logging.config.dictConfig(LOG_CONFIG)
    log = logging.getLogger("mdrcds.serve")
    try:
        # Once, before the workers start, so they never race to create the schema.
        Store(settings.database_url).migrate()
    except StoreUnavailable as exc:
        log.warning(
            "database unavailable at start; audit records will be spooled", extra={"reason": str(exc)}
        )
    log.info(
        "serving CDS Hooks",
        extra={
            "url": f"http://{host}:{port}/cds-services",
            "auth": settings.auth,
            "database": settings.database_url.split("://")[0],
        },
    )
    uvicorn.run(
        "mdrcds.web.app:create_app",
        log_config=LOG_CONFIG,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,
        log_level="warning",
        # header deadline, header size and connection caps (mdrcds.web.connections); idle keep-alive
        # connections close after 5 s; the body deadline and budget are the application's
        http=GuardedHttpToolsProtocol,
        timeout_keep_alive=5,
        limit_concurrency=limits.max_connections,
    )
    return 0


@api_app.command("export", epilog="Example:\n\n    mdrcds api export\n\n" + EXIT_CODES)
def api_export_command(
    out: Annotated[Path, typer.Option(help="Where to write the contract files.")] = Path("api"),
    samples: Annotated[Path, typer.Option(help="The golden cases the examples come from.")] = Path(
        "fhir_samples"
    ),
) -> int:
    """Write api/cds-services.json, api/openapi.json and api/examples/ from the code."""
    from mdrcds.web.contract import EXAMPLE_CASES, EXAMPLE_NOW, export

    rulebook = load_rulebook()
    engine = Engine(rulebook)
    responses = {
        service_id: evaluate(
            (samples / case / "request.json").read_bytes(),
            rulebook=rulebook,
            engine=engine,
            now=date.fromisoformat(EXAMPLE_NOW),
        ).response()
        for service_id, case in EXAMPLE_CASES.items()
    }
    for path in export(out, samples, responses):
        print(f"wrote {path}")
    return 0


@rules_app.command("check", epilog="Example:\n\n    mdrcds rules check --rules my-rules/\n\n" + EXIT_CODES)
def rules_check_command(rules: RulesOption = None) -> int:
    """Lint every rule, value set and citation, and compile the rulebook in the rules engine."""
    rules_dir = rules or default_rules_dir()
    problems = check_rulebook(rules_dir)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"mdrcds rules check: {len(problems)} problem(s) in {rules_dir}", file=sys.stderr)
        return 1
    rulebook = load_rulebook(rules_dir)
    try:
        Engine(rulebook)  # the rules engine compiles the rulebook as the service will at start
    except EngineError as exc:
        print(f"{rules_dir}: {exc}", file=sys.stderr)
        print(f"mdrcds rules check: the rules engine rejected {rules_dir}", file=sys.stderr)
        return 1
    print(f"mdrcds rules check: {len(rulebook.rules)} rules OK ({rulebook.meta.name} {rulebook.version})")
    return 0


@rules_app.command("docs", epilog="Example:\n\n    mdrcds rules docs\n\n" + EXIT_CODES)
def rules_docs_command(
    rules: RulesOption = None,
    out: Annotated[Path, typer.Option(help="Where to write the pages.")] = Path("docs/rules"),
) -> int:
    """Write the rule catalogue pages (Markdown), one per rule and an index."""
    pages = catalogue(load_rulebook(rules))
    stale = _write_generated(out, pages, "*.md")
    print(f"mdrcds rules docs: wrote {len(pages)} pages to {out}, removed {stale}")
    return 0


@rules_app.command("export", epilog="Example:\n\n    mdrcds rules export --out api/rulebook\n\n" + EXIT_CODES)
def rules_export_command(
    rules: RulesOption = None,
    out: Annotated[Path, typer.Option(help="Where to write the FHIR files.")] = Path("api/rulebook"),
) -> int:
    """Write the rulebook as FHIR knowledge artifacts (PlanDefinition, Library, ValueSet, Bundle)."""
    files = rulebook_files(load_rulebook(rules))
    stale = _write_generated(out, files, "*.json")
    print(f"mdrcds rules export: wrote {len(files)} FHIR files to {out}, removed {stale}")
    return 0


def _write_generated(folder: Path, files: dict[str, str], pattern: str) -> int:
    """Make `folder` hold exactly `files` (name -> text) among its `pattern` files; how many were removed."""
    folder.mkdir(parents=True, exist_ok=True)
    stale = [path for path in folder.glob(pattern) if path.name not in files]
    for path in stale:
        path.unlink()
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return len(stale)


def rulebook_files(rulebook: Rulebook) -> dict[str, str]:
    """File name -> pretty JSON of every exported artifact and of the Bundle holding them all,
    each built and validated with the FHIR models."""
    resources = [build_resource(resource) for resource in knowledge_export.export(rulebook)]
    files = {f"{r['resourceType']}-{r['id']}.json": _pretty(r) for r in resources}
    files["Bundle-mdrcds-rulebook.json"] = _pretty(build_resource(knowledge_export.bundle(resources)))
    return files


def _pretty(resource: dict[str, object]) -> str:
    return orjson.dumps(resource, option=orjson.OPT_INDENT_2).decode() + "\n"


@rules_app.command(
    "list", epilog="Examples:\n\n    mdrcds rules list\n\n    mdrcds rules list --json\n\n" + EXIT_CODES
)
def rules_list_command(
    rules: RulesOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the catalogue as JSON.")] = False,
) -> int:
    """Print the rule catalogue: id, title, category, indicator, evidence grade, hooks, review date."""
    rulebook = load_rulebook(rules)
    rows = [
        {
            "id": rule.id,
            "title": rule.title,
            "category": rule.category,
            "indicator": rule.indicator,
            "evidence": rule.evidence.grade,
            "hooks": list(rule.hooks),
            "reviewed": rule.reviewed.isoformat(),
        }
        for rule in rulebook.rules
    ]
    if as_json:
        document = {"rulebook": rulebook.meta.name, "version": rulebook.version, "rules": rows}
        sys.stdout.write(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n")
        return OK
    table = Table(title=f"{rulebook.meta.name} {rulebook.version}", show_lines=False)
    for column in ("rule", "category", "indicator", "evidence", "hooks", "reviewed"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            f"{row['id']}\n{row['title']}",
            str(row["category"]),
            str(row["indicator"]),
            str(row["evidence"]),
            ", ".join(row["hooks"]),
            str(row["reviewed"]),
        )
    _console().print(table)
    return OK


def _console() -> Console:
    """stdout for rich tables: the terminal's width, or wide enough not to fold ids when piped."""
    return Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200)
