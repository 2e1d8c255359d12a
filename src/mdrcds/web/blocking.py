"""Blocking dependencies off the event loop, each in its own bounded thread pool.

The event loop never waits on a dependency: the database (audit ledger, page sessions, health ping),
the identity checks (JWK Set fetches and the `jti` replay ledger behind every JWT) and the EHR's FHIR
server each get a pool of their own, apart from Starlette's shared pool. A dependency that hangs
therefore fills only its own pool: its callers queue, while /healthz, /metrics and every other route go
on being answered. A caller that must answer in bounded time (/healthz) waits with a deadline.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


class Pools:
    """The bounded pools of one process (sizes documented in docs/service.md)."""

    DATABASE_THREADS = 8
    IDENTITY_THREADS = 4
    FHIR_THREADS = 8
    READING_THREADS = 2

    def __init__(self) -> None:
        self.database = ThreadPoolExecutor(self.DATABASE_THREADS, thread_name_prefix="mdrcds-database")
        self.identity = ThreadPoolExecutor(self.IDENTITY_THREADS, thread_name_prefix="mdrcds-identity")
        self.fhir = ThreadPoolExecutor(self.FHIR_THREADS, thread_name_prefix="mdrcds-fhir")
        # parsing a pasted or uploaded input on the pages (up to MDRCDS_MAX_BODY_BYTES)
        self.reading = ThreadPoolExecutor(self.READING_THREADS, thread_name_prefix="mdrcds-reading")

    @staticmethod
    async def run(pool: ThreadPoolExecutor, work: Callable[[], T]) -> T:
        """Run `work` in `pool` and await it without blocking the event loop."""
        return await asyncio.get_running_loop().run_in_executor(pool, work)

    @staticmethod
    async def within(pool: ThreadPoolExecutor, seconds: float, work: Callable[[], T]) -> T:
        """As `run`, but give up waiting after `seconds` (TimeoutError); the work itself finishes in
        its thread whenever the dependency answers."""
        future = asyncio.get_running_loop().run_in_executor(pool, work)
        return await asyncio.wait_for(asyncio.shield(future), seconds)

    def close(self) -> None:
        for pool in (self.database, self.identity, self.fhir, self.reading):
            pool.shutdown(wait=False, cancel_futures=True)
