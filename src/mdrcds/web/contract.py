"""The HTTP contract files in `api/`: discovery document, OpenAPI document, example calls.

`mdrcds api export` writes them; tests fail when the app and the files drift apart.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mdrcds.settings import Settings
from mdrcds.web.discovery import SERVICES, discovery_document

EXAMPLE_CASES = {
    "mdrcds-patient-view": "mdr1-nivolumab-amiodarone-patient-view",
    "mdrcds-order-select": "mdr1-pembrolizumab-verapamil-order-select",
    "mdrcds-order-sign": "mdr1-tariquidar-draft-nivolumab-order-sign",
}
"""Which golden case (fhir_samples/<case>/) is each service's example request."""
EXAMPLE_NOW = "2026-11-23"


def openapi_document() -> dict[str, Any]:
    """The app's OpenAPI document (independent of settings)."""
    from mdrcds.web.app import create_app

    return create_app(Settings(auth="off")).openapi()


def dumps(document: Any) -> str:
    """The stable text form of a contract file."""
    return json.dumps(document, indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def export(api_dir: Path, samples_dir: Path, responses: dict[str, Any]) -> list[Path]:
    """Write api/cds-services.json, api/openapi.json and api/examples/*; return the paths written."""
    written = [api_dir / "cds-services.json", api_dir / "openapi.json"]
    api_dir.mkdir(parents=True, exist_ok=True)
    written[0].write_text(dumps(discovery_document()))
    written[1].write_text(dumps(openapi_document()))
    examples = api_dir / "examples"
    examples.mkdir(exist_ok=True)
    for service_id, case in EXAMPLE_CASES.items():
        request = json.loads((samples_dir / case / "request.json").read_text())
        for path, document in (
            (examples / f"{service_id}.request.json", request),
            (examples / f"{service_id}.response.json", responses[service_id]),
        ):
            path.write_text(dumps(document))
            written.append(path)
    stated = examples / "now.json"
    stated.write_text(
        dumps({"now": EXAMPLE_NOW, "note": "the evaluation date of these examples: mdrcds evaluate uses it"})
    )
    written.append(stated)
    assert set(EXAMPLE_CASES) == set(SERVICES)
    return written
