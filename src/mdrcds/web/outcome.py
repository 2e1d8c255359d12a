"""Error responses: a FHIR OperationOutcome that names the field at fault (CDS Hooks 3.0 advice)."""

from __future__ import annotations

import orjson
from starlette.responses import Response

FHIR_JSON = "application/fhir+json"


def operation_outcome(
    status: int, code: str, diagnostics: str | None = None, expression: str | None = None
) -> Response:
    """An error response. `code` is a FHIR issue-type code ('invalid', 'processing', 'not-found', ...)."""
    issue: dict[str, object] = {"severity": "error", "code": code}
    if diagnostics:
        issue["diagnostics"] = diagnostics
    if expression:
        issue["expression"] = [expression]
    body = orjson.dumps({"resourceType": "OperationOutcome", "issue": [issue]})
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return Response(body, status_code=status, media_type=FHIR_JSON, headers=headers)


def unauthorized() -> Response:
    """401 that says nothing about why (CDS Hooks best practice)."""
    return operation_outcome(401, "login")
