"""Prometheus metrics of one app instance (its own registry, so tests can build many apps)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class Metrics:
    """Requests, latency, cards by rule, prefetch fetches and the audit spool depth."""

    def __init__(
        self, spool_depth: Callable[[], float], audit_health: Callable[[], dict[str, Any]] | None = None
    ) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "mdrcds_requests",
            "HTTP requests by route and status",
            ["route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "mdrcds_request_seconds",
            "Request latency by route",
            ["route"],
            buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
            registry=self.registry,
        )
        self.cards = Counter(
            "mdrcds_cards",
            "Cards returned, by rule and indicator",
            ["rule", "indicator"],
            registry=self.registry,
        )
        self.prefetch_fetches = Counter(
            "mdrcds_prefetch_fetches",
            "Prefetch keys fetched from the client's FHIR server, by key and outcome",
            ["key", "outcome"],
            registry=self.registry,
        )
        spool = Gauge(
            "mdrcds_audit_spool_depth", "Audit records waiting for the database", registry=self.registry
        )
        spool.set_function(spool_depth)
        if audit_health is not None:
            for name, key, text in (
                (
                    "mdrcds_audit_held_in_memory",
                    "heldInMemory",
                    "Audit records neither stored nor spooled yet",
                ),
                ("mdrcds_audit_overflowed", "overflowed", "Audit records refused because the queue was full"),
                ("mdrcds_audit_quarantined", "quarantined", "Unreadable spool lines moved to quarantine"),
                ("mdrcds_audit_write_errors", "writeErrors", "Audit storage faults (spool or writer errors)"),
            ):
                gauge = Gauge(name, text, registry=self.registry)
                gauge.set_function(_reader(audit_health, key))

    def exposition(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)


def _reader(health: Callable[[], dict[str, Any]], key: str) -> Callable[[], float]:
    def read() -> float:
        return float(health()[key])

    return read


class Measured:
    """ASGI middleware: request count by route and status, and latency by route (plain ASGI, not
    BaseHTTPMiddleware, which costs a task and a stream per call)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            metrics = scope["app"].state.service.metrics
            metrics.requests.labels(route, str(status)).inc()
            metrics.latency.labels(route).observe(time.perf_counter() - started)
