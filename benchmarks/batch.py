"""Batch throughput: patients/s of `mdrcds batch` (local, 1 and 2 workers; Spark local[2]) and peak memory.

    .venv/bin/python benchmarks/batch.py [--population 100000] [--skip-spark]
    .venv/bin/python benchmarks/batch.py --cohort 1000000 [--scratch DIR]

Runs `mdrcds batch` as a subprocess on (1) the Bulk Data sample in fhir_samples/bulk (13 patients) and
(2) a generated population: that sample replicated with new patient ids until it holds `--population`
patients (about 335 kB of rule-relevant NDJSON per patient, so 100,000 patients is ~34 GB on disk).
Wall time includes start-up (Spark's JVM start is several seconds). Memory is sampled from /proc every
0.2 s over the whole process tree of the run (driver, workers and, for Spark, the JVM and its Python
workers): "tree MB" is the peak of the summed RSS, "process MB" the largest single process.

--cohort N: the synthetic oncology cohort (`mdrcds synth --patients N`, Bulk NDJSON, rules planted at
2 %) instead, run with local 2 workers and Spark local[2]; prints each run and whether the per-rule
patient counts of the two engines are equal (the summary's `rules`), and keeps the summaries.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from mdrcds.reading.fhir import patient_of_raw

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
    chemotherapy orders between them); the other eleven are 27-245 kB of rule-relevant NDJSON.
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
        if typical_only:
            lines = [line for line in lines if patient_of_raw(line) in sample_patients]
        # Each sample id keeps all but its last 7 characters, which become the copy number; NUL
        # marks the place (it cannot occur in NDJSON text).
        template = b"\n".join(lines) + b"\n"
        for patient in sample_patients:
            template = template.replace(patient.encode(), patient.encode()[:-7] + b"\0")
        with (target / file.name).open("wb") as out:
            for copy in range(copies):
                out.write(template.replace(b"\0", f"-{copy:06d}".encode()))
    return copies * len(sample_patients)


class TreeMemory:
    """Peak RSS of a process and all its descendants, sampled from /proc in a background thread."""

    def __init__(self, root: int, interval: float = 0.2) -> None:
        self.root = root
        self.interval = interval
        self.peak_tree_kb = 0
        self.peak_process_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            sizes = [_rss_kb(pid) for pid in _descendants(self.root)]
            self.peak_tree_kb = max(self.peak_tree_kb, sum(sizes))
            self.peak_process_kb = max(self.peak_process_kb, *sizes, 0)


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended between listing and reading
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, frontier = [root], [root]
    while frontier:
        frontier = [child for pid in frontier for child in children.get(pid, [])]
        found += frontier
    return found


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def run(inputs: Path, engine: str, workers: int, out: Path) -> tuple[float, float, float, int]:
    """(seconds, peak tree RSS MB, peak single-process RSS MB, patients) of one `mdrcds batch` run."""
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
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    with process, TreeMemory(process.pid) as memory:
        _, errors = process.communicate()
    elapsed = time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} exited {process.returncode}:\n{errors.decode()[-2000:]}")
    patients = json.loads((out / "summary.json").read_text())["patients"]
    return elapsed, memory.peak_tree_kb / 1024, memory.peak_process_kb / 1024, patients


def cohort(scratch: Path, size: int, skip_spark: bool) -> None:
    """The synthetic oncology cohort of `size` patients through local 2 workers and Spark local[2]."""
    target = scratch / "cohort"
    started = time.perf_counter()
    mdrcds = str(Path(sys.executable).parent / "mdrcds")
    subprocess.run(
        [mdrcds, "synth", "--patients", str(size), "--seed", "1", "--out", str(target), "--quiet"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    mb = sum(f.stat().st_size for f in target.glob("*.ndjson")) / 1e6
    print(
        f"python {platform.python_version()}; mdrcds synth: {size:,} patients, {mb:,.0f} MB NDJSON in "
        f"{time.perf_counter() - started:.0f} s"
    )
    print(
        f"{'engine':<14} {'patients':>9} {'seconds':>8} {'patients/s':>11} {'tree MB':>8} {'process MB':>10}",
        flush=True,
    )
    counts: dict[str, dict[str, int]] = {}
    for engine, workers in [("local", 2)] + ([] if skip_spark else [("spark", 2)]):
        out = scratch / f"out-{engine}"
        elapsed, tree, process, patients = run(target, engine, workers, out)
        label = f"{engine} {workers}w" if engine == "local" else "spark local[2]"
        rate = patients / elapsed
        print(
            f"{label:<14} {patients:>9,} {elapsed:>8.1f} {rate:>11.1f} {tree:>8.0f} {process:>10.0f}",
            flush=True,
        )
        summary = json.loads((out / "summary.json").read_text())
        counts[engine] = {rule: figures["patients"] for rule, figures in summary["rules"].items()}
    for engine, per_rule in counts.items():
        print(f"{engine}: {json.dumps(per_rule, sort_keys=True)}")
    if len(counts) == 2:
        print("per-rule patient counts equal between engines:", counts["local"] == counts["spark"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--population", type=int, default=100_000)
    parser.add_argument("--cohort", type=int, help="the synthetic oncology cohort of this size instead")
    parser.add_argument("--scratch", type=Path, help="where to write (default: a temporary directory)")
    parser.add_argument("--skip-spark", action="store_true")
    parser.add_argument("--typical-only", action="store_true", help="leave the two outlier records out")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="mdrcds-batch-bench-", dir=args.scratch))
    try:
        if args.cohort:
            cohort(scratch, args.cohort, args.skip_spark)
        else:
            measure(scratch, args.population, args.typical_only, args.skip_spark)
    finally:
        shutil.rmtree(scratch)  # the generated population is gigabytes


def measure(scratch: Path, size: int, typical_only: bool, skip_spark: bool) -> None:
    """Generate a population of `size` in `scratch`; time each configuration on the sample and on it."""
    population = scratch / "population"
    made = generate(population, size, typical_only)
    mb = sum(f.stat().st_size for f in population.glob("*.ndjson")) / 1e6
    kind = "typical-size records only" if typical_only else "all sample records"
    print(f"python {platform.python_version()}; generated {made:,} patients, {kind} ({mb:,.0f} MB NDJSON)")
    header = f"{'input':<12} {'engine':<14} {'patients':>9} {'seconds':>8} {'patients/s':>11}"
    print(f"{header} {'tree MB':>8} {'process MB':>10}", flush=True)
    configurations = [("local", 1), ("local", 2)] + ([] if skip_spark else [("spark", 2)])
    for name, inputs in (("bulk sample", BULK), ("population", population)):
        for engine, workers in configurations:
            out = scratch / f"out-{name.replace(' ', '-')}-{engine}-{workers}"
            elapsed, tree, process, patients = run(inputs, engine, workers, out)
            label = f"{engine} {workers}w" if engine == "local" else "spark local[2]"
            rate = patients / elapsed
            row = f"{name:<12} {label:<14} {patients:>9,} {elapsed:>8.1f} {rate:>11.1f}"
            print(f"{row} {tree:>8.0f} {process:>10.0f}", flush=True)
            shutil.rmtree(out)


if __name__ == "__main__":
    main()
