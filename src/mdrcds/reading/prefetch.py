"""Prefetch templates, and fetching what the client did not prefetch from its FHIR server.

Templates use CDS Hooks 2.0 tokens only: `{{context.patientId}}`, a root-level primitive context field.
A key the client left out (or answered with an OperationOutcome, i.e. it tried and failed) is fetched
from `fhirServer` with the `fhirAuthorization` bearer token, following `Bundle.link[next]`. The token is
never logged or stored.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import httpx
import orjson

from mdrcds.errors import MdrcdsError

PREFETCH_TEMPLATES: Mapping[str, str] = {
    "patient": "Patient/{{context.patientId}}",
    "medicationRequests": "MedicationRequest?patient={{context.patientId}}",
    "medicationStatements": "MedicationStatement?patient={{context.patientId}}",
    "medicationAdministrations": "MedicationAdministration?patient={{context.patientId}}",
    "medicationDispenses": "MedicationDispense?patient={{context.patientId}}",
    "conditions": "Condition?patient={{context.patientId}}",
    "observations": "Observation?patient={{context.patientId}}",
    "procedures": "Procedure?patient={{context.patientId}}",
}
"""The same templates for every service (the rules read the same data at every hook)."""

_TOKEN = re.compile(r"\{\{\s*context\.([A-Za-z]+)\s*\}\}")


class FhirServerError(MdrcdsError):
    """The client's FHIR server could not give a missing prefetch key; names the key, never the token."""


def render(template: str, context: Mapping[str, Any]) -> str:
    """Fill a template's `{{context.x}}` tokens (URL-encoded); a missing or non-primitive field fails."""

    def value(match: re.Match[str]) -> str:
        item = context.get(match.group(1))
        if not isinstance(item, str | int | float) or isinstance(item, bool) or item == "":
            raise FhirServerError(f"context.{match.group(1)} is needed by the prefetch template")
        return quote(str(item), safe="")

    return _TOKEN.sub(value, template)


@dataclass
class Fetched:
    """What one fetch of a missing key returned: raw JSON documents (one per page)."""

    key: str
    pages: list[bytes] = field(default_factory=list)


class FhirFetcher:
    """Fetches prefetch keys from a client's FHIR server, within a byte budget and a deadline per call."""

    def __init__(
        self,
        http: httpx.Client,
        max_pages: int = 20,
        require_https: bool = False,
        *,
        max_bytes: int = 50 * 1024 * 1024,
        deadline_seconds: float = 20.0,
    ) -> None:
        self.http = http
        self.max_pages = max_pages
        self.require_https = require_https
        self.max_bytes = max_bytes
        self.deadline_seconds = deadline_seconds

    def budget(self) -> Budget:
        """A fresh budget for one call (all its keys and pages together)."""
        return Budget(self.max_bytes, time.monotonic() + self.deadline_seconds)

    def fetch(
        self,
        key: str,
        server: str,
        token: str | None,
        context: Mapping[str, Any],
        budget: Budget | None = None,
    ) -> Fetched:
        """GET one key's query (and its next pages). A 404 on a read is no data, not an error.

        Every way the server can fail (unreachable, an error status, an answer that is not a FHIR
        resource, a malformed Bundle, too many bytes, too slow, a next link that leaves the server)
        raises FhirServerError, which the service answers with 412.
        """
        budget = budget or self.budget()
        if self.require_https and urlsplit(server).scheme != "https":
            raise FhirServerError("fhirServer must be an https URL")
        url = urljoin(server.rstrip("/") + "/", render(PREFETCH_TEMPLATES[key], context))
        headers = {"Accept": "application/fhir+json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        fetched = Fetched(key)
        origin = urlsplit(server)
        for _ in range(self.max_pages):
            status, content = self._get(key, url, headers, budget)
            if status == 404 and "?" not in url:
                return fetched
            if status != 200:
                raise FhirServerError(f"prefetch.{key}: FHIR server answered HTTP {status}")
            next_url = _check_page(key, content)
            fetched.pages.append(content)
            if next_url is None:
                return fetched
            url = urljoin(url, next_url)
            # Never send the token anywhere but the server the client named, over the same scheme.
            target = urlsplit(url)
            if (target.scheme, target.netloc) != (origin.scheme, origin.netloc):
                raise FhirServerError(f"prefetch.{key}: next link leaves the FHIR server")
        raise FhirServerError(f"prefetch.{key}: more than {self.max_pages} pages")

    def _get(self, key: str, url: str, headers: dict[str, str], budget: Budget) -> tuple[int, bytes]:
        chunks: list[bytes] = []
        try:
            timeout = httpx.Timeout(budget.seconds_left(key), connect=min(2.0, budget.seconds_left(key)))
            with self.http.stream("GET", url, headers=headers, timeout=timeout) as response:
                for chunk in response.iter_bytes():
                    budget.spend(key, len(chunk))
                    chunks.append(chunk)
                return response.status_code, b"".join(chunks)
        except httpx.HTTPError as exc:
            if budget.expired():
                raise FhirServerError(f"prefetch.{key}: FHIR server too slow (over the deadline)") from None
            raise FhirServerError(f"prefetch.{key}: FHIR server unreachable ({type(exc).__name__})") from None


@dataclass
class Budget:
    """Bytes and time left for one call's fallback fetches."""

    bytes_left: int
    deadline: float

    def seconds_left(self, key: str) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise FhirServerError(f"prefetch.{key}: FHIR server too slow (over the deadline)")
        return left

    def expired(self) -> bool:
        return time.monotonic() >= self.deadline

    def spend(self, key: str, size: int) -> None:
        self.bytes_left -= size
        if self.bytes_left < 0:
            raise FhirServerError(f"prefetch.{key}: FHIR server answer too large")
        self.seconds_left(key)


def _check_page(key: str, page: bytes) -> str | None:
    """The page's next link; raises FhirServerError when the page is not a FHIR resource or its
    Bundle elements have the wrong shape."""
    try:
        document = orjson.loads(page)
    except (orjson.JSONDecodeError, RecursionError):
        raise FhirServerError(f"prefetch.{key}: FHIR server answer is not JSON") from None
    if not isinstance(document, dict) or not isinstance(document.get("resourceType"), str):
        raise FhirServerError(f"prefetch.{key}: FHIR server answer is not a FHIR resource")
    if document["resourceType"] != "Bundle":
        return None
    links, entries = document.get("link", []), document.get("entry", [])
    if not isinstance(links, list) or not isinstance(entries, list):
        raise FhirServerError(f"prefetch.{key}: FHIR server answered a malformed Bundle")
    for link in links:
        if isinstance(link, dict) and link.get("relation") == "next":
            url = link.get("url")
            if not isinstance(url, str):
                raise FhirServerError(f"prefetch.{key}: FHIR server answered a malformed next link")
            return url
    return None
