"""Batch throughput: patients/s of `mdrcds batch` (local, 1 and 2 workers; Spark local[2]) and peak memory.

    .venv/bin/python benchmarks/batch.py [--population 100000] [--skip-spark]

Runs `mdrcds batch` as a subprocess on (1) the Bulk Data sample in fhir_samples/bulk (13 patients) and
(2) a generated population: that sample replicated with new patient ids until it holds `--population`
patients (about 320 kB of rule-relevant NDJSON per patient, so 100,000 patients is ~32 GB on disk).
Wall time includes start-up (Spark's JVM start is several seconds). Peak memory is the largest RSS of
any one process of the run (the driver or a worker).
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

from mdrcds.fhir import patient_of_raw

ROOT = Path(__file__).resolve().parents[1]
BULK = ROOT / "fhir_samples" / "bulk"


def record_sizes() -> dict[str, int]:
    """Bytes of rule-relevant NDJSON per sample patient."""
    sizes: dict[str, int] = {}
    for file in sorted(BULK.glob("*.ndjson")):
        if file.name[0].isupper():
            for line in file.read_bytes().splitlines():
                owner = patient_of_raw(line)
                if owner:
                    sizes[owner] = sizes.get(owner, 0) + len(line)
    return sizes


def generate(target: Path, patients: int, typical_only: bool = False) -> int:
    """Replicate the bulk sample with new patient ids until `patients` patients; returns the count.

    `typical_only` leaves out the sample's two outlier records (about 1 and 2 MB, with 442
    chemotherapy orders between them); the other eleven are 13-230 kB.
    """
    target.mkdir(parents=True, exist_ok=True)
    sample_patients = [
        json.loads(line)["id"] for line in (BULK / "Patient.000.ndjson").read_text().splitlines()
    ]
    if typical_only:
        sizes = record_sizes()
        sample_patients = [p for p in sample_patients if sizes.get(p, 0) < 500_000]
    copies = -(-patients // len(sample_patients))
    for file in sorted(BULK.glob("*.ndjson")):
        if not file.name[0].isupper():
            continue
        lines = file.read_bytes().splitlines()
        with (target / file.name).open("wb") as out:
            for copy in range(copies):
                suffix = f"-{copy:06d}".encode()
                for line in lines:
                    if typical_only and patient_of_raw(line) not in sample_patients:
                        continue
                    for patient in sample_patients:
                        line = line.replace(patient.encode(), patient.encode()[:-7] + suffix)
                    out.write(line + b"\n")
    return copies * len(sample_patients)


def run(inputs: Path, engine: str, workers: int, out: Path) -> tuple[float, float, int]:
    """(seconds, peak RSS MB, patients) of one `mdrcds batch` run."""
    command = [
        str(Path(sys.executable).parent / "mdrcds"),
        "batch",
        str(inputs),
        "--out",
        str(out),
        "--now",
        "2026-11-23",
        "--workers",
        str(workers),
        "--engine",
        engine,
    ]
    # A fresh parent per run, so the children's peak RSS is this run's alone.
    probe = (
        "import resource, subprocess, sys, time; t = time.perf_counter(); "
        "subprocess.run(sys.argv[1:], check=True, capture_output=True); "
        "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    done = subprocess.run([sys.executable, "-c", probe, *command], check=True, capture_output=True, text=True)
    elapsed, peak_kb = done.stdout.split()
    patients = json.loads((out / "summary.json").read_text())["patients"]
    return float(elapsed), int(peak_kb) / 1024, patients


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--population", type=int, default=100_000)
    parser.add_argument("--skip-spark", action="store_true")
    parser.add_argument("--typical-only", action="store_true", help="leave the two outlier records out")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="mdrcds-batch-bench-"))
    population = scratch / "population"
    made = generate(population, args.population, args.typical_only)
    size = sum(f.stat().st_size for f in population.glob("*.ndjson")) / 1e6
    kind = "typical-size records only" if args.typical_only else "all sample records"
    print(f"python {platform.python_version()}; generated {made:,} patients, {kind} ({size:,.0f} MB NDJSON)")
    print(f"{'input':<12} {'engine':<14} {'patients':>9} {'seconds':>8} {'patients/s':>11} {'peak MB':>8}")
    configurations = [("local", 1), ("local", 2)] + ([] if args.skip_spark else [("spark", 2)])
    for name, inputs in (("bulk sample", BULK), ("population", population)):
        for engine, workers in configurations:
            out = scratch / f"out-{name.replace(' ', '-')}-{engine}-{workers}"
            elapsed, peak, patients = run(inputs, engine, workers, out)
            label = f"{engine} {workers}w" if engine == "local" else "spark local[2]"
            rate = patients / elapsed
            print(f"{name:<12} {label:<14} {patients:>9,} {elapsed:>8.1f} {rate:>11.1f} {peak:>8.0f}")


if __name__ == "__main__":
    main()
