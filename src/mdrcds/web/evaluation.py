"""Evaluation off the event loop: one engine thread per process.

durable-rules must never be called from two threads at once, and an evaluation of a large request
takes long enough to stall every other call if it runs on the event loop. So reading the request, the
facts, the engine and the cards run on a single dedicated thread; the event loop only awaits it, and
/healthz and other calls keep being answered meanwhile. A small call is the exception (decision 0014):
while the engine thread is idle, the event loop may read and evaluate it itself, which saves the two
hand-overs between the threads; `EngineThread.idle` says when that cannot overlap the thread's work.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, TypeVar, cast

T = TypeVar("T")


@dataclass(frozen=True)
class Attempt(Generic[T]):
    """The outcome of some work, value or exception, carried back from the engine thread so that a
    caller can tell the failures of two steps done in one trip apart."""

    value: T | None = None
    error: Exception | None = None

    @classmethod
    def of(cls, work: Callable[[], T]) -> Attempt[T]:
        try:
            return cls(value=work())
        except Exception as exc:
            return cls(error=exc)

    def result(self) -> T:
        """The value, or the exception raised again."""
        if self.error is not None:
            raise self.error
        return cast(T, self.value)


class EngineThread:
    """A single worker thread for everything that touches the rules engine."""

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mdrcds-engine")
        # Each counter has one writer (the submitting thread, the engine thread), so neither loses a
        # count; they differ while work is queued or running.
        self.submitted = 0
        self.finished = 0

    @property
    def idle(self) -> bool:
        """Nothing queued or running on the engine thread: work done meanwhile by the thread that
        submits all of it (the event loop) cannot overlap the engine thread's."""
        return self.finished == self.submitted

    def call(self, work: Callable[[], T]) -> T:
        """Run `work` on the engine thread and wait (for start-up work outside the event loop)."""
        return self._executor.submit(self._counted(work)).result()

    async def run(self, work: Callable[[], T]) -> T:
        """Run `work` on the engine thread without blocking the event loop."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._counted(work))

    def _counted(self, work: Callable[[], T]) -> Callable[[], T]:
        self.submitted += 1

        def counted() -> T:
            try:
                return work()
            finally:
                # Counted when the work ends, not when its caller hears of it: a caller that stopped
                # waiting (a cancelled call) does not make the thread look idle while it still runs.
                self.finished += 1

        return counted

    def close(self) -> None:
        self._executor.shutdown(wait=True)
