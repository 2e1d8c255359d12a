"""The `mdrcds` command: evaluate FHIR data from files, and check or list the rulebook."""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Iterator, Sequence
from datetime import date
from pathlib import Path
from typing import TextIO

import orjson

from mdrcds.errors import ConfigurationError, EngineError, InputError, MdrcdsError
from mdrcds.knowledge import export as knowledge_export
from mdrcds.knowledge.rulebook import Rulebook, check_rulebook, default_rules_dir, load_rulebook
from mdrcds.knowledge.ruledocs import catalogue
from mdrcds.reading.fhir import HOOKS, build_resource
from mdrcds.reasoning.engine import Engine
from mdrcds.service import Evaluation, evaluate
from mdrcds.settings import Settings

_COLOURS = {"critical": "\033[1;31m", "warning": "\033[1;33m", "info": "\033[1;36m"}
_RESET = "\033[0m"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `mdrcds` console script; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    args.command_line = ["mdrcds", *(sys.argv[1:] if argv is None else argv)]
    try:
        code: int = args.handler(args)
        return code
    except MdrcdsError as exc:
        for line in str(exc).splitlines() or [type(exc).__name__]:
            print(f"mdrcds: error: {line}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mdrcds", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("evaluate", help="evaluate CDS Hooks requests, Bundles or resources")
    run.add_argument("paths", nargs="+", type=Path, help="JSON files, or directories of *.json files")
    run.add_argument("--hook", choices=HOOKS, help="hook for Bundles and resources (default patient-view)")
    run.add_argument("--now", type=_date, default=None, help="evaluation date, YYYY-MM-DD (default today)")
    run.add_argument(
        "--format",
        choices=("text", "json", "detectedissue"),
        default="text",
        help="text for people, json for the CDS Hooks response, detectedissue for a Bundle of DetectedIssues",
    )
    run.add_argument("--fhir-version", choices=("R4", "R5"), default="R4")
    run.add_argument("--rules", type=Path, default=None, help="rules directory (default: built-in)")
    run.add_argument(
        "--research", action="store_true", help="also show the cards of research-mode and silent rules"
    )
    run.set_defaults(handler=_evaluate)

    rules = commands.add_parser("rules", help="work with the rulebook")
    rules_commands = rules.add_subparsers(dest="rules_command", required=True)
    check = rules_commands.add_parser("check", help="lint every rule, value set and citation")
    check.add_argument("--rules", type=Path, default=None)
    check.set_defaults(handler=_rules_check)
    listing = rules_commands.add_parser("list", help="print the rule catalogue")
    listing.add_argument("--rules", type=Path, default=None)
    listing.set_defaults(handler=_rules_list)
    test = commands.add_parser("test", help="run rule test cases (YAML files, golden case directories)")
    test.add_argument(
        "paths", nargs="*", type=Path, default=[Path("tests/cases")], help="files or directories"
    )
    test.add_argument("--junit", type=Path, default=None, help="also write a JUnit XML report here")
    test.add_argument("--coverage", action="store_true", help="report which rules the cases exercise")
    test.add_argument("--rules", type=Path, default=None)
    test.set_defaults(handler=_test)

    batch = commands.add_parser("batch", help="evaluate a population: Bundle files or a Bulk Data export")
    batch.add_argument("inputs", nargs="+", type=Path, help="Bundle files, directories, NDJSON exports")
    batch.add_argument("--out", type=Path, required=True, help="output directory")
    batch.add_argument("--now", type=_date, default=None, help="evaluation date, YYYY-MM-DD (default today)")
    batch.add_argument("--hook", choices=HOOKS, default="patient-view")
    batch.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    batch.add_argument("--rules", type=Path, default=None)
    batch.add_argument(
        "--engine", choices=("local", "spark"), default="local", help="spark needs mdrcds[spark]"
    )
    batch.add_argument(
        "--master", default=None, help="Spark master URL (default: spark-submit's, else local[2])"
    )
    batch.set_defaults(handler=_batch)

    serve = commands.add_parser("serve", help="run the CDS Hooks service (settings: MDRCDS_* variables)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(handler=_serve)

    api = commands.add_parser("api", help="the HTTP contract files")
    api_commands = api.add_subparsers(dest="api_command", required=True)
    export = api_commands.add_parser("export", help="write api/cds-services.json, openapi.json, examples/")
    export.add_argument("--out", type=Path, default=Path("api"))
    export.add_argument("--samples", type=Path, default=Path("fhir_samples"))
    export.set_defaults(handler=_api_export)

    docs = rules_commands.add_parser("docs", help="write the rule catalogue pages (default docs/rules)")
    docs.add_argument("--rules", type=Path, default=None)
    docs.add_argument("--out", type=Path, default=Path("docs/rules"))
    docs.set_defaults(handler=_rules_docs)
    fhir_export = rules_commands.add_parser(
        "export", help="write the rulebook as FHIR PlanDefinitions, ValueSets, a Library and a Bundle"
    )
    fhir_export.add_argument("--rules", type=Path, default=None)
    fhir_export.add_argument("--out", type=Path, default=Path("api/rulebook"))
    fhir_export.set_defaults(handler=_rules_export)
    return parser


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _inputs(paths: Sequence[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*.json") if p.is_file())
        else:
            yield path


def _evaluate(args: argparse.Namespace) -> int:
    engine = Engine(load_rulebook(args.rules))
    now = args.now or date.today()
    colour = args.format == "text" and sys.stdout.isatty() and "NO_COLOR" not in os.environ
    failures = 0
    for path in _inputs(args.paths):
        try:
            evaluation = _evaluate_file(path, args, engine, now)
        except InputError as exc:
            failures += 1
            print(f"mdrcds: error: {exc}", file=sys.stderr)
            continue
        if args.format == "json":
            sys.stdout.write(orjson.dumps(evaluation.response()).decode() + "\n")
        elif args.format == "detectedissue":
            issues = evaluation.detected_issues(engine.rulebook, now)
            bundle = {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [{"resource": i} for i in issues],
            }
            sys.stdout.write(orjson.dumps(build_resource(bundle)).decode() + "\n")
        else:
            _print_text(evaluation, sys.stdout, colour)
    return 1 if failures else 0


def _evaluate_file(path: Path, args: argparse.Namespace, engine: Engine, now: date) -> Evaluation:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    evaluation = evaluate(
        data,
        rulebook=engine.rulebook,
        engine=engine,
        now=now,
        default_hook=args.hook or "patient-view",
        fhir_version=args.fhir_version,
        source=str(path),
        include_research=args.research,
        include_silent=args.research,
    )
    if args.hook and evaluation.hook != args.hook:
        raise InputError(f"{path}: is a {evaluation.hook!r} request; --hook {args.hook} does not apply to it")
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


def _test(args: argparse.Namespace) -> int:
    from mdrcds.research.testcases import coverage, find_cases, junit_xml, run_path

    rulebook = load_rulebook(args.rules)
    engine = Engine(rulebook)
    results = [run_path(path, rulebook, engine) for path in find_cases(args.paths)]
    for result in results:
        if result.passed:
            print(f"PASS {result.loaded.case.name}")
        else:
            print(f"FAIL {result.loaded.case.name} ({result.loaded.path})")
            for problem in result.problems:
                print(f"    {problem}")
    failed = sum(1 for r in results if not r.passed)
    if args.coverage:
        table = coverage(results, rulebook)
        print(f"\n{'rule':<58} {'fired':>6} {'not fired':>10}")
        for rule_id, counts in sorted(table.items()):
            print(f"{rule_id:<58} {counts['fired']:>6} {counts['not_fired']:>10}")
        untested = [rule_id for rule_id, counts in sorted(table.items()) if not counts["fired"]]
        print(f"rules no case makes fire: {', '.join(untested) if untested else 'none'}")
    if args.junit:
        args.junit.write_bytes(junit_xml(results))
    print(f"\n{len(results) - failed} cases passed, {failed} failed")
    return 1 if failed or not results else 0


def _batch(args: argparse.Namespace) -> int:
    from mdrcds.research.batch import Progress, run_local, summary, write_findings, write_summary
    from mdrcds.research.report import render_report

    now = args.now or date.today()
    rulebook = load_rulebook(args.rules)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.engine == "spark":
        from mdrcds.research.spark import run_spark

        print(f"mdrcds: running on Spark ({args.master or 'default master'})", file=sys.stderr)
        result = run_spark(
            args.inputs, args.out, now=now, hook=args.hook, master=args.master, rules_dir=args.rules
        )
    else:
        result = run_local(
            args.inputs,
            now=now,
            hook=args.hook,
            workers=args.workers,
            rules_dir=args.rules,
            progress=Progress(),
        )
    document = summary(
        result,
        rulebook,
        now=now,
        hook=args.hook,
        engine=args.engine,
        workers=args.workers,
        command=args.command_line,
    )
    if args.engine == "spark":
        document["master"] = args.master or "spark-submit default or local[2]"
    write_findings(result.findings, args.out, parquet=args.engine == "local")
    write_summary(document, args.out)
    (args.out / "report.html").write_text(render_report(document, result.findings))
    for outcome in result.failed[:20]:
        print(
            f"mdrcds: skipped patient {outcome.patient} ({outcome.source}): {outcome.error}", file=sys.stderr
        )
    for problem in result.read_problems[:20]:
        print(f"mdrcds: skipped {problem.source}: {problem.kind}: {problem.message}", file=sys.stderr)
    print(
        f"{result.patients:,} patients, {document['patients_with_cards']:,} with cards, "
        f"{len(result.failed):,} failed; wrote findings.csv, findings.parquet, summary.json, report.html "
        f"to {args.out}"
    )
    return 0


def _settings() -> Settings:
    from pydantic import ValidationError

    try:
        return Settings()
    except ValidationError as exc:
        problems = [f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors()]
        raise ConfigurationError(problems) from None


def _serve(args: argparse.Namespace) -> int:
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
            "url": f"http://{args.host}:{args.port}/cds-services",
            "auth": settings.auth,
            "database": settings.database_url.split("://")[0],
        },
    )
    uvicorn.run(
        "mdrcds.web.app:create_app",
        log_config=LOG_CONFIG,
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        access_log=False,
        log_level="warning",
        # header deadline, header size and connection caps (mdrcds.web.connections); idle keep-alive
        # connections close after 5 s; the body deadline and budget are the application's
        http=GuardedHttpToolsProtocol,
        timeout_keep_alive=5,
        limit_concurrency=limits.max_connections,
    )
    return 0


def _api_export(args: argparse.Namespace) -> int:
    from mdrcds.web.contract import EXAMPLE_CASES, EXAMPLE_NOW, export

    rulebook = load_rulebook()
    engine = Engine(rulebook)
    responses = {
        service_id: evaluate(
            (args.samples / case / "request.json").read_bytes(),
            rulebook=rulebook,
            engine=engine,
            now=date.fromisoformat(EXAMPLE_NOW),
        ).response()
        for service_id, case in EXAMPLE_CASES.items()
    }
    for path in export(args.out, args.samples, responses):
        print(f"wrote {path}")
    return 0


def _rules_check(args: argparse.Namespace) -> int:
    rules_dir = args.rules or default_rules_dir()
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


def _rules_docs(args: argparse.Namespace) -> int:
    pages = catalogue(load_rulebook(args.rules))
    stale = _write_generated(args.out, pages, "*.md")
    print(f"mdrcds rules docs: wrote {len(pages)} pages to {args.out}, removed {stale}")
    return 0


def _rules_export(args: argparse.Namespace) -> int:
    files = rulebook_files(load_rulebook(args.rules))
    stale = _write_generated(args.out, files, "*.json")
    print(f"mdrcds rules export: wrote {len(files)} FHIR files to {args.out}, removed {stale}")
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


def _rules_list(args: argparse.Namespace) -> int:
    rulebook = load_rulebook(args.rules)
    print(f"{rulebook.meta.name} {rulebook.version}")
    for rule in rulebook.rules:
        hooks = ", ".join(rule.hooks)
        facts = f"{rule.category}; {rule.indicator}; evidence {rule.evidence.grade}"
        print(
            f"{rule.id}\n    {rule.title}\n    {facts}; hooks {hooks}; reviewed {rule.reviewed.isoformat()}"
        )
    return 0
