"""The request body, read with a size limit, a deadline and a process-wide byte budget before anything
parses it.

- `limit`: bytes one body may have (413 beyond it).
- deadline: the whole body must arrive within `body_seconds` (408 beyond it), so a client that stalls
  after sending part of an upload does not hold it open.
- budget: bytes held by all bodies being read at once in this process (`body_bytes_in_flight`). A
  chunk that would pass it is refused (503, try again later): stalled uploads hold at most the budget,
  never the sum of their sizes.
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request


class TooLarge(Exception):
    """The body is over the limit (answer 413)."""


class TooSlow(Exception):
    """The body did not arrive within the deadline (answer 408)."""


class ServerBusy(Exception):
    """Bodies being read already hold the process's byte budget (answer 503)."""


class BodyBudget:
    """Bytes held by the bodies being read in this process (one event loop: no lock needed)."""

    def __init__(self, total: int, seconds: float) -> None:
        self.total = total
        self.seconds = seconds
        self.held = 0

    def take(self, size: int) -> bool:
        if self.held + size > self.total:
            return False
        self.held += size
        return True

    def give_back(self, size: int) -> None:
        self.held -= size


BUDGET = BodyBudget(256 * 1024 * 1024, 30.0)
"""The process's budget; `configure` sets it from the settings when the application is made."""


def configure(total: int, seconds: float) -> None:
    """Set the process-wide byte budget and the body deadline (create_app calls it)."""
    BUDGET.total, BUDGET.seconds = total, seconds


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body; raises TooLarge as soon as the declared or streamed size passes `limit`, TooSlow
    when it has not all arrived within the deadline, ServerBusy when the budget is spent."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise TooLarge
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(BUDGET.seconds):
            async for chunk in request.stream():
                if size + len(chunk) > limit:
                    raise TooLarge
                if not BUDGET.take(len(chunk)):
                    raise ServerBusy
                size += len(chunk)
                chunks.append(chunk)
    except TimeoutError:
        raise TooSlow from None
    finally:
        BUDGET.give_back(size)
    return b"".join(chunks)
