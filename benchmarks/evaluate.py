"""End-to-end evaluation time per patient: file bytes -> cards, over the Synthea bundles.

    .venv/bin/python benchmarks/evaluate.py [--repeat 50] [BUNDLE_DIR]

Prints, per bundle, size, resources, facts, validated resources and the median and p95 time of
`mdrcds.evaluate` on the raw bytes (parse, facts, engine, cards), then the median over patients.
The rulebook and engine are built once beforehand, as in a running service.
"""

from __future__ import annotations

import argparse
import gc
import platform
import statistics
import time
from datetime import date
from pathlib import Path

from mdrcds import evaluate, load_rulebook
from mdrcds.reasoning.engine import Engine

ROOT = Path(__file__).resolve().parents[1]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundles", nargs="?", type=Path, default=ROOT / "fhir_samples" / "synthea")
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
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
