"""Prometheus metrics of one app instance (its own registry, so tests can build many apps)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    """Requests, latency, cards by rule, prefetch fetches and the audit spool depth."""

    def __init__(self, spool_depth: Callable[[], float]) -> None:
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

    def exposition(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)
