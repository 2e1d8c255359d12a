"""Connection limits for `mdrcds serve`: uvicorn's httptools protocol with a header deadline, a header
size cap and connection caps (uvicorn has none of the three).

- A request's line and headers must arrive within `header_seconds` of its first byte (or of the
  connection, for the first request): a client that drips a header line is closed at the deadline.
- At most `max_header_bytes` of request line and headers; more is answered 431 and closed.
- At most `max_connections` open connections per worker process and `max_connections_per_client` per
  client address; a connection over either cap is closed at once, before it is read, so half-open
  connections cannot use up the process's file descriptors.

The body has its own deadline and budget (mdrcds.web.body). Idle keep-alive connections close after
uvicorn's `timeout_keep_alive`. Production puts a reverse proxy in front as well (docs/service.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import Any, ClassVar

import httptools
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("mdrcds.connections")


class ConnectionLimits(BaseSettings):
    """The server's connection limits, from MDRCDS_* environment variables (each worker reads them)."""

    model_config = SettingsConfigDict(env_prefix="MDRCDS_", extra="ignore")

    header_seconds: float = Field(default=10.0, gt=0)
    max_header_bytes: int = Field(default=64 * 1024, gt=0)
    max_connections: int = Field(default=1_000, gt=0)
    max_connections_per_client: int = Field(default=100, gt=0)


class _HeadersTooLarge(httptools.HttpParserError):
    """Raised from a parser callback: uvicorn stops parsing and calls send_400_response."""


_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"connection: close\r\ncontent-length: 29\r\n\r\nrequest headers are too large"
)


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's HttpToolsProtocol with the limits of `ConnectionLimits` (pass it as uvicorn's `http`)."""

    limits: ClassVar[ConnectionLimits | None] = None
    """Read from the environment at the first connection; a test may set it before serving."""
    _per_client: ClassVar[Counter[str]] = Counter()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_deadline: asyncio.TimerHandle | None = None
        self._header_bytes = 0
        self._counted: str | None = None
        self._too_large = False

    @classmethod
    def current_limits(cls) -> ConnectionLimits:
        if cls.limits is None:
            cls.limits = ConnectionLimits()
        return cls.limits

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        limits = self.current_limits()
        peer = self.client[0] if self.client else "unknown"
        if (
            len(self.connections) > limits.max_connections
            or self._per_client[peer] >= limits.max_connections_per_client
        ):
            log.warning("connection refused: over the connection limit", extra={"client": peer})
            transport.abort()
            return
        self._per_client[peer] += 1
        self._counted = peer
        self._arm_header_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_deadline()
        if self._counted is not None:
            self._per_client[self._counted] -= 1
            if self._per_client[self._counted] <= 0:
                del self._per_client[self._counted]
            self._counted = None
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_bytes = 0
        if self._header_deadline is None:
            self._arm_header_deadline()

    def on_url(self, url: bytes) -> None:
        self._count_header_bytes(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_header_bytes(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._disarm_header_deadline()
        super().on_headers_complete()

    def _count_header_bytes(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > self.current_limits().max_header_bytes:
            self._too_large = True
            raise _HeadersTooLarge("request headers are too large")

    def send_400_response(self, msg: str) -> None:
        if not self._too_large:
            super().send_400_response(msg)
            return
        self._disarm_header_deadline()
        if not self.transport.is_closing():
            self.transport.write(_TOO_LARGE)
            self.transport.close()

    def _arm_header_deadline(self) -> None:
        self._header_deadline = self.loop.call_later(
            self.current_limits().header_seconds, self._header_timeout
        )

    def _disarm_header_deadline(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _header_timeout(self) -> None:
        self._header_deadline = None
        if not self.transport.is_closing():
            log.info(
                "connection closed: request headers not received in time", extra={"client": self._counted}
            )
            self.transport.abort()
