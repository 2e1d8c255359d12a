"""CDS Hooks service load: order-select latency by prefetch size and concurrency, throughput, RSS.

    .venv/bin/python benchmarks/service.py [--calls 2000] [--rss-calls 10000]

Starts `mdrcds serve` (one worker, auth off, a fresh SQLite file) as a separate process and calls it
over loopback HTTP from 1 or 8 client processes. Each request is the golden MDR1 order-select case
(one card) plus N generated resources in its prefetch (N = 10, 100, 1000), mostly unrelated to any
rule, as a real record is. Prints p50/p99 latency and calls per second for each, the floor
(benchmarks/floor_app.py: a bare FastAPI app that only parses the body, served the same way) and
mdrcds/floor, then the server's RSS (with --workers N, the first process's: uvicorn's supervisor)
after call 1,000 and after call 10,000 of a 100-resource run at 8 clients.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "fhir_samples" / "mdr1-pembrolizumab-verapamil-order-select" / "request.json"
SERVICE = "/cds-services/mdrcds-order-select"


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


def client_run(base: str, body: bytes, calls: int, expected_cards: int = 1) -> list[float]:
    """One client process: `calls` sequential calls; returns latencies in seconds."""
    latencies = []
    template = json.loads(body)
    with httpx.Client(base_url=base, timeout=30) as client:
        for _ in range(calls):
            template["hookInstance"] = str(uuid.uuid4())
            data = json.dumps(template).encode()
            started = time.perf_counter()
            response = client.post(SERVICE, content=data, headers={"Content-Type": "application/json"})
            latencies.append(time.perf_counter() - started)
            if response.status_code != 200 or len(response.json()["cards"]) != expected_cards:
                raise RuntimeError(f"unexpected answer {response.status_code}: {response.text[:200]}")
    return latencies


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def load(
    pool: ProcessPoolExecutor, base: str, body: bytes, calls: int, clients: int, expected_cards: int = 1
) -> tuple[list[float], float]:
    started = time.perf_counter()
    futures = [pool.submit(client_run, base, body, calls // clients, expected_cards) for _ in range(clients)]
    latencies = [latency for future in futures for latency in future.result()]
    return latencies, time.perf_counter() - started


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--calls", type=int, default=2000, help="calls per configuration (1000-resource: a tenth)"
    )
    parser.add_argument("--rss-calls", type=int, default=10000)
    parser.add_argument("--workers", type=int, default=1, help="server worker processes (floor too)")
    args = parser.parse_args()
    print(
        f"python {platform.python_version()}, {os.cpu_count()} CPUs; server: mdrcds serve, "
        f"{args.workers} worker(s), SQLite"
    )
    print(
        f"{'prefetch':>8} {'clients':>7} {'calls':>6} {'p50 ms':>7} {'p99 ms':>7} {'calls/s':>8} "
        f"{'floor/s':>8} {'mdrcds/floor':>12}"
    )
    with tempfile.TemporaryDirectory(prefix="mdrcds-bench-") as scratch, ProcessPoolExecutor(8) as pool:
        workdir = Path(scratch)
        rates: dict[tuple[int, int], float] = {}
        floor, floor_base = start_server(workdir / "floor", floor=True, workers=args.workers)
        try:
            for resources in (10, 100, 1000):
                body = json.dumps(request_with(resources)).encode()
                client_run(floor_base, body, 20, expected_cards=0)
                for clients in (1, 8):
                    calls = args.calls if resources < 1000 else max(80, args.calls // 10)
                    latencies, elapsed = load(pool, floor_base, body, calls, clients, expected_cards=0)
                    rates[(resources, clients)] = len(latencies) / elapsed
        finally:
            floor.terminate()
            floor.wait(timeout=30)
        server, base = start_server(workdir / "latency", workers=args.workers)
        try:
            for resources in (10, 100, 1000):
                body = json.dumps(request_with(resources)).encode()
                client_run(base, body, 20)  # warm-up
                for clients in (1, 8):
                    calls = args.calls if resources < 1000 else max(80, args.calls // 10)
                    latencies, elapsed = load(pool, base, body, calls, clients)
                    p50, p99 = (percentile(latencies, q) * 1000 for q in (0.5, 0.99))
                    count, rate = len(latencies), len(latencies) / elapsed
                    floor_rate = rates[(resources, clients)]
                    print(
                        f"{resources:>8} {clients:>7} {count:>6} {p50:>7.1f} {p99:>7.1f} {rate:>8.0f} "
                        f"{floor_rate:>8.0f} {rate / floor_rate:>12.2f}"
                    )
        finally:
            server.terminate()
            server.wait(timeout=30)
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


if __name__ == "__main__":
    main()
