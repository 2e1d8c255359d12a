"""`api/` is the HTTP contract: it must match the app (regenerate with `mdrcds api export`)."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

from mdrcds.knowledge.rulebook import Rulebook
from mdrcds.reasoning.engine import Engine
from mdrcds.service import evaluate
from mdrcds.web.contract import EXAMPLE_CASES, EXAMPLE_NOW, dumps, openapi_document
from mdrcds.web.discovery import discovery_document

ROOT = Path(__file__).resolve().parents[1]
API = ROOT / "api"
STALE = "api/ is stale: run `mdrcds api export`"


def test_openapi_document_matches_the_app() -> None:
    assert (API / "openapi.json").read_text() == dumps(openapi_document()), STALE


def test_discovery_document_matches_the_app() -> None:
    assert (API / "cds-services.json").read_text() == dumps(discovery_document()), STALE


def test_openapi_lists_the_cds_hooks_routes() -> None:
    paths = json.loads((API / "openapi.json").read_text())["paths"]
    assert {"/cds-services", "/cds-services/{service_id}", "/cds-services/{service_id}/feedback"} <= set(
        paths
    )
    assert {"/healthz", "/metrics"} <= set(paths)


def test_examples_are_the_golden_requests_and_their_responses(rulebook: Rulebook, engine: Engine) -> None:
    for service_id, case in EXAMPLE_CASES.items():
        request = (ROOT / "fhir_samples" / case / "request.json").read_bytes()
        example_request = (API / "examples" / f"{service_id}.request.json").read_text()
        assert json.loads(example_request) == json.loads(request), STALE
        response = evaluate(
            request, rulebook=rulebook, engine=engine, now=date.fromisoformat(EXAMPLE_NOW)
        ).response()
        assert (API / "examples" / f"{service_id}.response.json").read_text() == dumps(response), STALE
        assert json.loads(request)["hook"] == service_id.removeprefix("mdrcds-")


def test_discovery_names_exactly_the_accepted_algorithms() -> None:
    from mdrcds.web.auth import ALGORITHMS
    from mdrcds.web.discovery import discovery_document

    for service in discovery_document()["services"]:
        text = service["usageRequirements"]
        named = set(re.findall(r"\b(?:ES|RS|PS|HS)\d{3}\b", text))
        assert named == set(ALGORITHMS), text


def test_every_card_link_is_https() -> None:
    from mdrcds.knowledge.rulebook import load_rulebook

    rulebook = load_rulebook()
    links = [link.url for citation in rulebook.citations.values() for link in citation.links()]
    assert links and all(url.startswith("https://") and "://" not in url[8:] for url in links)
    assert "https://www.cancerquest.org/newsroom/2020/04/multidrug-resistance-and-immune-system" in links
