"""Event-loop responsiveness: /healthz latency while one large call is being evaluated.

    .venv/bin/python benchmarks/responsiveness.py [--orders 40000]

Starts `mdrcds serve` (one worker, auth off, SQLite), sends one order-select request whose prefetch
holds `--orders` MedicationRequests (about 8 MB at 40,000), and meanwhile calls /healthz in a loop.
Prints the large call's time and status, and the /healthz latencies seen while it ran (median, p99,
max). Evaluation runs on the engine thread, off the event loop, so /healthz should stay fast.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from service import SAMPLE, percentile, start_server


def large_request(orders: int) -> bytes:
    request: dict[str, Any] = json.loads(SAMPLE.read_text())
    template = request["prefetch"]["medicationRequests"]["entry"][0]["resource"]
    entries = []
    for number in range(orders):
        resource = copy.deepcopy(template)
        resource["id"] = f"order-{number}"
        entries.append({"resource": resource})
    request["prefetch"]["medicationRequests"]["entry"] = entries
    return json.dumps(request).encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=40_000)
    args = parser.parse_args()
    body = large_request(args.orders)
    os.environ["MDRCDS_MAX_BODY_BYTES"] = str(len(body) + 1024)
    os.environ["MDRCDS_MAX_RESOURCES"] = str(args.orders + 100)
    with tempfile.TemporaryDirectory(prefix="mdrcds-resp-") as scratch:
        server, base = start_server(Path(scratch) / "server")
        try:
            done = threading.Event()
            outcome: dict[str, Any] = {}

            def large_call() -> None:
                started = time.perf_counter()
                response = httpx.post(f"{base}/cds-services/mdrcds-order-select", content=body, timeout=600)
                outcome.update(status=response.status_code, seconds=time.perf_counter() - started)
                done.set()

            thread = threading.Thread(target=large_call)
            thread.start()
            latencies: list[float] = []
            with httpx.Client(base_url=base, timeout=60) as client:
                time.sleep(0.05)
                while not done.is_set():
                    started = time.perf_counter()
                    client.get("/healthz")
                    if not done.is_set():
                        latencies.append(time.perf_counter() - started)
                    time.sleep(0.01)
            thread.join()
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(
        f"large call: {len(body) / 1e6:.1f} MB, {args.orders:,} orders, "
        f"HTTP {outcome['status']}, {outcome['seconds']:.2f} s"
    )
    if latencies:
        p50, p99 = (percentile(latencies, q) * 1000 for q in (0.5, 0.99))
        print(
            f"/healthz during it: {len(latencies)} calls, median {p50:.1f} ms, p99 {p99:.1f} ms, "
            f"max {max(latencies) * 1000:.1f} ms"
        )


if __name__ == "__main__":
    main()
