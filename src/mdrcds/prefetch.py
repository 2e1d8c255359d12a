"""Prefetch templates, and fetching what the client did not prefetch from its FHIR server.

Templates use CDS Hooks 2.0 tokens only: `{{context.patientId}}`, a root-level primitive context field.
A key the client left out (or answered with an OperationOutcome, i.e. it tried and failed) is fetched
from `fhirServer` with the `fhirAuthorization` bearer token, following `Bundle.link[next]`. The token is
never logged or stored.
"""

from __future__ import annotations

import re
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
    """Fetches prefetch keys from a client's FHIR server."""

    def __init__(self, http: httpx.Client, max_pages: int = 20, require_https: bool = False) -> None:
        self.http = http
        self.max_pages = max_pages
        self.require_https = require_https

    def fetch(self, key: str, server: str, token: str | None, context: Mapping[str, Any]) -> Fetched:
        """GET one key's query (and its next pages). A 404 on a read is no data, not an error."""
        if self.require_https and urlsplit(server).scheme != "https":
            raise FhirServerError("fhirServer must be an https URL")
        url = urljoin(server.rstrip("/") + "/", render(PREFETCH_TEMPLATES[key], context))
        headers = {"Accept": "application/fhir+json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        fetched = Fetched(key)
        origin = urlsplit(server)
        for _ in range(self.max_pages):
            try:
                response = self.http.get(url, headers=headers)
            except httpx.HTTPError as exc:
                raise FhirServerError(
                    f"prefetch.{key}: FHIR server unreachable ({type(exc).__name__})"
                ) from None
            if response.status_code == 404 and "?" not in url:
                return fetched
            if response.status_code != 200:
                raise FhirServerError(f"prefetch.{key}: FHIR server answered HTTP {response.status_code}")
            fetched.pages.append(response.content)
            next_url = _next_link(response.content)
            if next_url is None:
                return fetched
            url = next_url
            # Never send the token anywhere but the server the client named.
            if urlsplit(url).netloc != origin.netloc:
                raise FhirServerError(f"prefetch.{key}: next link leaves the FHIR server")
        raise FhirServerError(f"prefetch.{key}: more than {self.max_pages} pages")


def _next_link(page: bytes) -> str | None:
    try:
        document = orjson.loads(page)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(document, dict) or document.get("resourceType") != "Bundle":
        return None
    for link in document.get("link") or []:
        if isinstance(link, dict) and link.get("relation") == "next" and isinstance(link.get("url"), str):
            return str(link["url"])
    return None
