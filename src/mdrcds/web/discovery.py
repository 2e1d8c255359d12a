"""The CDS services mdrcds offers, as the CDS Hooks discovery document describes them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mdrcds.reading.prefetch import PREFETCH_TEMPLATES
from mdrcds.web.auth import ALGORITHMS


@dataclass(frozen=True)
class CdsService:
    id: str
    hook: str
    title: str
    description: str


SERVICES: Mapping[str, CdsService] = {
    service.id: service
    for service in (
        CdsService(
            "mdrcds-patient-view",
            "patient-view",
            "mdrcds: oncology MDR and immunotherapy-resistance review",
            "Reviews the patient's current medications, conditions, procedures and genomic results for "
            "multidrug-resistance (P-glycoprotein) interactions, immunotherapy-resistance patterns and "
            "checkpoint-inhibitor cautions. Each card states its evidence grade and cites its sources.",
        ),
        CdsService(
            "mdrcds-order-select",
            "order-select",
            "mdrcds: cautions for the selected oncology orders",
            "Checks the newly selected medication orders against the patient's record for P-gp "
            "interactions, immunotherapy-resistance patterns and checkpoint-inhibitor cautions; cards "
            "concern the selected orders only.",
        ),
        CdsService(
            "mdrcds-order-sign",
            "order-sign",
            "mdrcds: cautions before signing oncology orders",
            "Checks all draft medication orders about to be signed against the patient's record for "
            "P-gp interactions, immunotherapy-resistance patterns and checkpoint-inhibitor cautions.",
        ),
    )
}

USAGE_REQUIREMENTS = (
    "Send the prefetch keys, or fhirServer with fhirAuthorization so the service can fetch them; "
    f"R4 resources. Calls are authenticated with a signed JWT ({', '.join(ALGORITHMS[:-1])} or "
    f"{ALGORITHMS[-1]})."
)


def discovery_document() -> dict[str, Any]:
    """The body of `GET /cds-services`."""
    return {
        "services": [
            {
                "hook": service.hook,
                "title": service.title,
                "description": service.description,
                "id": service.id,
                "prefetch": dict(PREFETCH_TEMPLATES),
                "usageRequirements": USAGE_REQUIREMENTS,
            }
            for service in SERVICES.values()
        ]
    }
