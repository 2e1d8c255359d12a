"""Prefetch fallback: which keys the client did not send, and fetching them from its FHIR server."""

from __future__ import annotations

from mdrcds.reading.fhir import FhirInput, add_fetched
from mdrcds.reading.prefetch import PREFETCH_TEMPLATES, FhirFetcher, FhirServerError
from mdrcds.web.discovery import CdsService
from mdrcds.web.metrics import Metrics


def missing_keys(fhir_input: FhirInput) -> list[str]:
    """Prefetch keys not sent, or sent as an OperationOutcome (the client tried and failed)."""
    return [
        key
        for key in PREFETCH_TEMPLATES
        if key not in fhir_input.prefetch_keys or f"prefetch.{key}" in fhir_input.operation_outcomes
    ]


def fetch_missing(
    fetcher: FhirFetcher, metrics: Metrics, service: CdsService, fhir_input: FhirInput, missing: list[str]
) -> None:
    """Fetch each missing key and add what came back to the input; raises FhirServerError."""
    authorization = fhir_input.fhir_authorization or {}
    token = authorization.get("access_token") if isinstance(authorization, dict) else None
    token = token if isinstance(token, str) else None
    budget = fetcher.budget()
    for key in missing:
        try:
            fetched = fetcher.fetch(key, str(fhir_input.fhir_server), token, fhir_input.context, budget)
            for page in fetched.pages:
                add_fetched(fhir_input, page, where=f"prefetch.{key}")
        except FhirServerError:
            metrics.prefetch_fetches.labels(key, "error").inc()
            raise
        metrics.prefetch_fetches.labels(key, "ok").inc()
