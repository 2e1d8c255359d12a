"""Soak: 50,000 order-select calls against one `mdrcds serve` worker, RSS sampled as it goes.

    .venv/bin/python benchmarks/soak.py [--calls 50000] [--every 5000]

Same server and request as benchmarks/service.py (100-resource prefetch, 8 client processes, auth off,
SQLite); a call that is not a 200 with its one card stops the run. Prints the server's RSS after each
`--every` calls and its least-squares slope after warm-up (the first 10,000 calls), in MB per 10,000
calls: flat means no leak on the request path.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from service import load, request_with, rss_mb, start_server


def slope(points: list[tuple[int, float]]) -> float:
    """Least-squares slope of RSS (MB) against calls, per 10,000 calls."""
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    covariance = sum((x - mean_x) * (y - mean_y) for x, y in points)
    variance = sum((x - mean_x) ** 2 for x, _ in points)
    return covariance / variance * 10_000 if variance else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=50_000)
    parser.add_argument("--every", type=int, default=5_000)
    parser.add_argument("--warm-up", type=int, default=10_000)
    args = parser.parse_args()
    print(
        f"python {platform.python_version()}; mdrcds serve, 1 worker, SQLite; 8 clients, "
        "100-resource prefetch"
    )
    points: list[tuple[int, float]] = []
    with tempfile.TemporaryDirectory(prefix="mdrcds-soak-") as scratch, ProcessPoolExecutor(8) as pool:
        server, base = start_server(Path(scratch) / "soak")
        try:
            body = json.dumps(request_with(100)).encode()
            done = 0
            while done < args.calls:
                latencies, elapsed = load(pool, base, body, args.every, 8)
                done += len(latencies)
                rss = rss_mb(server.pid)
                points.append((done, rss))
                print(
                    f"{done:>7} calls  RSS {rss:7.1f} MB  {len(latencies) / elapsed:6.0f} calls/s", flush=True
                )
        finally:
            server.terminate()
            server.wait(timeout=30)
    after = [(calls, rss) for calls, rss in points if calls > args.warm_up]
    print(f"RSS slope after {args.warm_up:,} calls: {slope(after):+.2f} MB per 10,000 calls")


if __name__ == "__main__":
    main()
