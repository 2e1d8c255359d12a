"""The request body, read with a size limit before anything parses it."""

from __future__ import annotations

from starlette.requests import Request


class TooLarge(Exception):
    """The body is over the limit (answer 413)."""


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body; raises TooLarge as soon as the declared or streamed size passes `limit`."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise TooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge
        chunks.append(chunk)
    return b"".join(chunks)
