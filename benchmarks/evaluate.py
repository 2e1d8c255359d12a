"""End-to-end evaluation time per patient: file bytes -> cards.

    .venv/bin/python benchmarks/evaluate.py [--repeat 50] [BUNDLE_DIR]
    .venv/bin/python benchmarks/evaluate.py --distinct [PATH ...]

Default: per Synthea bundle, size, resources, facts, validated resources and the median and p95 time of
`mdrcds.evaluate` on the raw bytes (parse, facts, engine, cards) over repeats of the same bundle, then
the median over patients. The rulebook and engine are built once beforehand, as in a running service.

--distinct: what users meet. Every input (Bundle files, golden-case `request.json` files, and each
patient of an NDJSON export or a synthetic cohort, under each PATH) is evaluated once, in order, after
the start-up a process does (`mdrcds.service.warm_up`: FHIR models and ConText loaded, timed apart),
with the classification memory empty at the start (cold), and then once more (warm). Prints mean and
median per patient for both passes and the cold first input alone. `--no-warm-up` leaves the one-time
costs to the first records, as a process that skips the warm-up meets them.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import statistics
import time
from datetime import date
from pathlib import Path
from typing import Any

from mdrcds import Engine, evaluate, load_rulebook
from mdrcds.reading.population import ReadProblem, records

ROOT = Path(__file__).resolve().parents[1]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def distinct(paths: list[Path], warm: bool = True) -> None:
    """One cold pass over distinct inputs, then a warm pass (see the module docstring)."""
    inputs: list[tuple[bytes, date, Any]] = []
    for path in paths:
        if path.is_dir() and any(path.glob("*.ndjson")):
            # a Bulk Data export or a synthetic cohort: one Bundle per patient, as `mdrcds batch` makes
            problems: list[ReadProblem] = []
            inputs += [(r.document, NOW, "R4") for r in records([path], problems)]
            continue
        files = sorted([path] if path.is_file() else [*path.glob("*.json"), *path.glob("*/request.json")])
        for file in files:
            expected_file = file.parent / "expected.json"
            expected = json.loads(expected_file.read_text()) if expected_file.is_file() else {}
            if file.name in ("cohort.json", "manifest.json"):
                continue
            now = date.fromisoformat(expected["now"]) if "now" in expected else NOW
            inputs.append((file.read_bytes(), now, expected.get("fhir_version", "R4")))
    rulebook = load_rulebook()
    engine = Engine(rulebook)
    start = time.perf_counter()
    if warm:
        try:
            from mdrcds.service import warm_up
        except ImportError:  # a tree from before warm_up: its service preloaded ConText only
            from mdrcds.facts.context import preload

            preload()
        else:
            warm_up()
        print(f"start-up warm-up (once per process): {(time.perf_counter() - start) * 1000:.0f} ms")
    # As the service does after start-up (and `mdrcds evaluate` / batch workers do): what lives for the
    # whole process stays out of the collector's scans.
    gc.collect()
    gc.freeze()
    print(f"python {platform.python_version()} on {platform.machine()}; {len(inputs)} distinct inputs")
    for label in ("cold", "warm"):
        times, cards = [], 0
        for data, now, version in inputs:
            start = time.perf_counter()
            evaluation = evaluate(
                data, rulebook=rulebook, engine=engine, now=now, include_research=True, fhir_version=version
            )
            times.append((time.perf_counter() - start) * 1000)
            cards += len(evaluation.cards)
        print(
            f"{label}: mean {statistics.mean(times):.2f} ms, median {statistics.median(times):.2f} ms, "
            f"first {times[0]:.2f} ms, p95 {percentile(times, 0.95):.2f} ms; {cards} cards"
        )


NOW = date(2026, 11, 23)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundles", nargs="*", type=Path)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--distinct", action="store_true", help="each input once, cold then warm")
    parser.add_argument("--no-warm-up", action="store_true", help="with --distinct: no start-up warm-up")
    args = parser.parse_args()
    if args.distinct:
        distinct(
            args.bundles or [ROOT / "fhir_samples" / "synthea", ROOT / "fhir_samples"], not args.no_warm_up
        )
        return
    args.bundles = args.bundles[0] if args.bundles else ROOT / "fhir_samples" / "synthea"
    rulebook = load_rulebook()
    engine = Engine(rulebook)
    now = date(2026, 11, 23)
    print(f"python {platform.python_version()} on {platform.machine()}, {platform.processor() or 'cpu'}")
    print(f"{'bundle':<22} {'MB':>5} {'res':>5} {'facts':>5} {'valid':>5} {'median ms':>10} {'p95 ms':>8}")
    medians = []
    for path in sorted(args.bundles.glob("*.json")):
        data = path.read_bytes()
        evaluation = evaluate(data, rulebook=rulebook, engine=engine, now=now)  # warm-up
        times = []
        for _ in range(args.repeat):
            gc.collect()
            start = time.perf_counter()
            evaluate(data, rulebook=rulebook, engine=engine, now=now)
            times.append((time.perf_counter() - start) * 1000)
        medians.append(statistics.median(times))
        resources = evaluation.facts.resources_read + sum(evaluation.skipped_resources.values())
        print(
            f"{path.name[:22]:<22} {len(data) / 1e6:>5.1f} {resources:>5} {len(evaluation.facts.facts):>5} "
            f"{evaluation.facts.resources_validated:>5} {medians[-1]:>10.2f} {percentile(times, 0.95):>8.2f}"
        )
    print(
        f"median over {len(medians)} patients of the per-patient median: {statistics.median(medians):.2f} ms"
    )


if __name__ == "__main__":
    main()
