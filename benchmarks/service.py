"""CDS Hooks service load: order-select latency by prefetch size and concurrency, throughput, RSS.

    .venv/bin/python benchmarks/service.py [--calls 2000] [--rss-calls 10000] [--rounds 4] [--workers 1]

Starts `mdrcds serve` (one worker, auth off, a fresh SQLite file) as a separate process and calls it
over loopback HTTP from 1 or 8 client processes. Each request is the golden MDR1 order-select case
(one card) plus N generated resources in its prefetch (N = 10, 100, 1000), mostly unrelated to any
rule, as a real record is. Prints p50/p99 latency and calls per second for each, the floor
(benchmarks/floor_app.py: a bare FastAPI app that only parses the body, served the same way),
mdrcds/floor and each server's CPU time per call. The floor and mdrcds run side by side and are
called in alternating rounds (`--rounds`), so that both are measured in the same phase of a machine
whose speed drifts; the ratio is the median of the rounds'. Then the RSS of a fresh server (with
--workers N, the first process's: uvicorn's supervisor) after call 1,000 and after call 10,000 of a
100-resource run at 8 clients. Clients connect before a common start, so the rates time calls, not
process hand-offs and connection set-up.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "fhir_samples" / "mdr1-pembrolizumab-verapamil-order-select" / "request.json"
SERVICE = "/cds-services/mdrcds-order-select"
START_SECONDS = 0.3
"""Head start for the client processes of a load to connect before their common start."""


def request_with(resources: int) -> dict[str, Any]:
    """The MDR1 order-select request with `resources` extra prefetched resources."""
    request: dict[str, Any] = json.loads(SAMPLE.read_text())
    patient = {"reference": f"Patient/{request['context']['patientId']}"}
    kinds: dict[str, list[dict[str, Any]]] = {
        "observations": [],
        "medicationRequests": [],
        "conditions": [],
        "procedures": [],
    }
    for number in range(resources):
        slot = number % 10
        if slot < 4:
            kinds["observations"].append(
                {
                    "resourceType": "Observation",
                    "id": f"obs-{number}",
                    "status": "final",
                    "code": {
                        "coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}]
                    },
                    "subject": patient,
                    "effectiveDateTime": "2026-10-01",
                    "valueQuantity": {"value": 70 + slot, "unit": "/min"},
                }
            )
        elif slot < 7:
            kinds["medicationRequests"].append(
                {
                    "resourceType": "MedicationRequest",
                    "id": f"mr-{number}",
                    "status": "completed",
                    "intent": "order",
                    "medicationCodeableConcept": {"text": "acetaminophen 500 mg oral tablet"},
                    "subject": patient,
                    "authoredOn": "2025-01-01",
                }
            )
        elif slot < 9:
            kinds["conditions"].append(
                {
                    "resourceType": "Condition",
                    "id": f"cond-{number}",
                    "code": {
                        "coding": [
                            {
                                "system": "http://snomed.info/sct",
                                "code": "38341003",
                                "display": "Hypertension",
                            }
                        ]
                    },
                    "subject": patient,
                }
            )
        else:
            kinds["procedures"].append(
                {
                    "resourceType": "Procedure",
                    "id": f"proc-{number}",
                    "status": "completed",
                    "code": {"text": "Chest X-ray"},
                    "subject": patient,
                    "performedDateTime": "2024-05-01",
                }
            )
    for key, items in kinds.items():
        bundle = request["prefetch"][key]
        bundle["entry"] = (bundle.get("entry") or []) + [{"resource": r} for r in items]
    return request


def client_run(
    base: str, body: bytes, calls: int, expected_cards: int = 1, start_at: float | None = None
) -> tuple[list[float], float]:
    """One client process: `calls` sequential calls, begun at `start_at` (a time.perf_counter value,
    which on Linux is the same clock in every process) once the client is connected; returns the
    latencies in seconds and when the last call ended."""
    latencies = []
    template = json.loads(body)
    with httpx.Client(base_url=base, timeout=30) as client:
        if start_at is not None:
            client.get("/healthz")  # connected before the clock starts
            time.sleep(max(0.0, start_at - time.perf_counter()))
        for _ in range(calls):
            template["hookInstance"] = str(uuid.uuid4())
            data = json.dumps(template).encode()
            started = time.perf_counter()
            response = client.post(SERVICE, content=data, headers={"Content-Type": "application/json"})
            latencies.append(time.perf_counter() - started)
            if response.status_code != 200 or len(response.json()["cards"]) != expected_cards:
                raise RuntimeError(f"unexpected answer {response.status_code}: {response.text[:200]}")
    return latencies, time.perf_counter()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def load(
    pool: ProcessPoolExecutor, base: str, body: bytes, calls: int, clients: int, expected_cards: int = 1
) -> tuple[list[float], float]:
    """`clients` client processes making `calls` calls between them, all starting together once
    connected (process hand-off and connection set-up are not timed); returns the latencies and the
    seconds from the common start to the last answer."""
    start_at = time.perf_counter() + START_SECONDS
    futures = [
        pool.submit(client_run, base, body, calls // clients, expected_cards, start_at)
        for _ in range(clients)
    ]
    results = [future.result() for future in futures]
    latencies = [latency for result, _ in results for latency in result]
    return latencies, max(ended for _, ended in results) - start_at


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def start_server(workdir: Path, floor: bool = False, workers: int = 1) -> tuple[subprocess.Popen[bytes], str]:
    """`mdrcds serve` with `workers` worker processes on a free loopback port, once it answers; with
    `floor`, the bare FastAPI app of benchmarks/floor_app.py under uvicorn instead."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    workdir.mkdir(parents=True)
    env = {
        **os.environ,
        "MDRCDS_AUTH": "off",
        "MDRCDS_DATABASE_URL": f"sqlite:///{workdir / 'bench.sqlite3'}",
        "MDRCDS_SPOOL_DIR": str(workdir / "spool"),
    }
    command = [
        str(Path(sys.executable).parent / "mdrcds"),
        *("serve", "--port", str(port), "--workers", str(workers)),
    ]
    if floor:
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "floor_app:app",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--workers",
            str(workers),
        ]
        env["PYTHONPATH"] = str(Path(__file__).resolve().parent)
    server = subprocess.Popen(
        command, env=env, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            httpx.get(base + "/healthz")
            return server, base
        except httpx.HTTPError:
            time.sleep(0.1)
    server.terminate()
    raise RuntimeError("mdrcds serve did not start")


def cpu_seconds(pid: int) -> float:
    """User and system CPU time so far of a process and its descendants (uvicorn's workers), all
    threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    total = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            total += cpu_seconds(int(child))
    return total


@dataclass
class Block:
    """The calls of one server in one round: latencies, wall time and the server's CPU time."""

    latencies: list[float]
    elapsed: float
    cpu: float

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.elapsed


def block(
    pool: ProcessPoolExecutor,
    server: subprocess.Popen[bytes],
    base: str,
    body: bytes,
    calls: int,
    clients: int,
    expected_cards: int,
) -> Block:
    before = cpu_seconds(server.pid)
    latencies, elapsed = load(pool, base, body, calls, clients, expected_cards)
    return Block(latencies, elapsed, cpu_seconds(server.pid) - before)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--calls", type=int, default=2000, help="calls per configuration (1000-resource: a tenth)"
    )
    parser.add_argument("--rss-calls", type=int, default=10000)
    parser.add_argument("--workers", type=int, default=1, help="server worker processes (floor too)")
    parser.add_argument(
        "--rounds", type=int, default=4, help="alternating floor/mdrcds rounds per configuration"
    )
    args = parser.parse_args()
    print(
        f"python {platform.python_version()}, {os.cpu_count()} CPUs; server: mdrcds serve, "
        f"{args.workers} worker(s), SQLite; floor and mdrcds alternate in {args.rounds} rounds"
    )
    print(
        f"{'prefetch':>8} {'clients':>7} {'calls':>6} {'p50 ms':>7} {'p99 ms':>7} {'calls/s':>8} "
        f"{'floor/s':>8} {'mdrcds/floor':>17} {'CPU ms/call':>11} {'floor CPU':>9}"
    )
    with tempfile.TemporaryDirectory(prefix="mdrcds-bench-") as scratch, ProcessPoolExecutor(8) as pool:
        workdir = Path(scratch)
        floor, floor_base = start_server(workdir / "floor", floor=True, workers=args.workers)
        server, base = start_server(workdir / "latency", workers=args.workers)
        try:
            for resources in (10, 100, 1000):
                body = json.dumps(request_with(resources)).encode()
                client_run(floor_base, body, 20, expected_cards=0)
                client_run(base, body, 20)  # warm-up
                for clients in (1, 8):
                    calls = args.calls if resources < 1000 else max(80, args.calls // 10)
                    per_round = max(clients, calls // args.rounds)
                    ours: list[Block] = []
                    theirs: list[Block] = []
                    for number in range(args.rounds):
                        # Alternating which goes first: the VM's speed drifts, and each pair shares it.
                        for is_floor in (number % 2 == 0, number % 2 == 1):
                            if is_floor:
                                theirs.append(block(pool, floor, floor_base, body, per_round, clients, 0))
                            else:
                                ours.append(block(pool, server, base, body, per_round, clients, 1))
                    report(resources, clients, ours, theirs)
        finally:
            for process in (floor, server):
                process.terminate()
                process.wait(timeout=30)
        server, base = start_server(workdir / "rss", workers=args.workers)
        try:
            body = json.dumps(request_with(100)).encode()
            load(pool, base, body, 1000, 8)
            first = rss_mb(server.pid)
            load(pool, base, body, args.rss_calls - 1000, 8)
            last = rss_mb(server.pid)
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(
        f"RSS of a fresh server after 1,000 calls (100-resource prefetch, 8 clients): {first:.1f} MB; "
        f"after {args.rss_calls:,}: {last:.1f} MB ({(last - first) / first * 100:+.1f}%)"
    )
    print(
        "mdrcds/floor: the median of the rounds' ratios (lowest-highest); CPU: the server's user and "
        "system time per call, its worker processes included"
    )


def report(resources: int, clients: int, ours: list[Block], theirs: list[Block]) -> None:
    latencies = [latency for b in ours for latency in b.latencies]
    p50, p99 = (percentile(latencies, q) * 1000 for q in (0.5, 0.99))
    rate = len(latencies) / sum(b.elapsed for b in ours)
    floor_rate = sum(len(b.latencies) for b in theirs) / sum(b.elapsed for b in theirs)
    ratios = sorted(o.rate / t.rate for o, t in zip(ours, theirs, strict=True))
    spread = f"{statistics.median(ratios):.2f} ({ratios[0]:.2f}-{ratios[-1]:.2f})"
    cpu = sum(b.cpu for b in ours) / len(latencies) * 1000
    floor_cpu = sum(b.cpu for b in theirs) / sum(len(b.latencies) for b in theirs) * 1000
    print(
        f"{resources:>8} {clients:>7} {len(latencies):>6} {p50:>7.1f} {p99:>7.1f} {rate:>8.0f} "
        f"{floor_rate:>8.0f} {spread:>17} {cpu:>11.2f} {floor_cpu:>9.2f}",
        flush=True,
    )


if __name__ == "__main__":
    main()
