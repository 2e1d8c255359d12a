"""Worker scaling: calls/s of `mdrcds serve --workers N` with a client light enough to leave the cores
to the server.

    .venv/bin/python benchmarks/workers.py [--workers 1 2] [--calls 4000] [--connections 32]

benchmarks/service.py drives the server with 8 httpx client processes, which on a 2-core machine
take as much CPU as the server: neither mdrcds nor the bare floor app scales with workers there. This
benchmark sends pre-built requests (the 100-resource order-select, each with its own hookInstance)
from one asyncio process over raw keep-alive HTTP/1.1 connections, so nearly all the CPU goes to the
server, and reports calls/s and p99 per worker count. Use many connections: the workers share one
listening socket, and a keep-alive connection stays with the worker that accepted it, so with few
connections one worker can hold most of them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import tempfile
import time
import uuid
from pathlib import Path

from service import SERVICE, percentile, request_with, start_server


async def _call(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> int:
    writer.write(request)
    await writer.drain()
    status_line = await reader.readline()
    length = 0
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    await reader.readexactly(length)
    return int(status_line.split()[1])


async def _connection(host: str, port: int, requests: list[bytes], latencies: list[float]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        for request in requests:
            started = time.perf_counter()
            status = await _call(reader, writer, request)
            latencies.append(time.perf_counter() - started)
            if status != 200:
                raise RuntimeError(f"unexpected status {status}")
    finally:
        writer.close()


async def _load(base: str, bodies: list[bytes], connections: int) -> tuple[list[float], float]:
    host, port = base.removeprefix("http://").split(":")
    requests = [
        (
            f"POST {SERVICE} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        + body
        for body in bodies
    ]
    latencies: list[float] = []
    started = time.perf_counter()
    await asyncio.gather(
        *(_connection(host, int(port), requests[n::connections], latencies) for n in range(connections))
    )
    return latencies, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--calls", type=int, default=4000)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    template = request_with(100)
    bodies = []
    for _ in range(args.calls):
        template["hookInstance"] = str(uuid.uuid4())
        bodies.append(json.dumps(template).encode())
    print(
        f"python {platform.python_version()}, {os.cpu_count()} CPUs; 100-resource order-select, "
        f"{args.connections} connections from one asyncio client"
    )
    print(f"{'server':>8} {'workers':>7} {'calls':>6} {'p50 ms':>7} {'p99 ms':>7} {'calls/s':>8}")
    with tempfile.TemporaryDirectory(prefix="mdrcds-workers-") as scratch:
        for floor in (False, True):
            for workers in args.workers:
                workdir = Path(scratch) / f"{'floor' if floor else 'mdrcds'}-{workers}"
                server, base = start_server(workdir, floor=floor, workers=workers)
                try:
                    asyncio.run(_load(base, bodies[:200], args.connections))  # every worker warmed up
                    latencies, elapsed = asyncio.run(_load(base, bodies, args.connections))
                finally:
                    server.terminate()
                    server.wait(timeout=30)
                p50, p99 = (percentile(latencies, q) * 1000 for q in (0.5, 0.99))
                name = "floor" if floor else "mdrcds"
                print(
                    f"{name:>8} {workers:>7} {len(latencies):>6} {p50:>7.1f} {p99:>7.1f} "
                    f"{len(latencies) / elapsed:>8.0f}"
                )


if __name__ == "__main__":
    main()
