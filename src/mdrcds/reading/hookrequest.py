"""The CDS Hooks 2.0 request envelope and each hook's context, checked field by field.

`check_request` raises `RequestError` naming the offending field (a JSON path such as
`context.patientId`), which the service turns into a 400 with an OperationOutcome. Unknown fields and
`extension` objects anywhere are accepted (CDS Hooks 2.0 §Extensions).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from mdrcds.errors import InputFormatError
from mdrcds.reading.fhir import FhirInput


class RequestError(InputFormatError):
    """A CDS Hooks request field is missing or malformed; `field` is its JSON path."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        super().__init__(f"{field}: {problem}")


@dataclass(frozen=True)
class ContextField:
    name: str
    required: bool
    kind: str  # 'id' (plain logical id), 'reference' (Type/id), 'references', 'bundle'


_USER = ContextField("userId", True, "reference")
_PATIENT = ContextField("patientId", True, "id")
_ENCOUNTER = ContextField("encounterId", False, "id")
CONTEXT_FIELDS: Mapping[str, tuple[ContextField, ...]] = {
    "patient-view": (_USER, _PATIENT, _ENCOUNTER),
    "order-select": (
        _USER,
        _PATIENT,
        _ENCOUNTER,
        ContextField("selections", True, "references"),
        ContextField("draftOrders", True, "bundle"),
    ),
    "order-sign": (_USER, _PATIENT, _ENCOUNTER, ContextField("draftOrders", True, "bundle")),
}
"""Context fields per hook, from the CDS Hooks Library pages (hookVersion 1.0)."""

_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_REFERENCE = re.compile(r"^[A-Za-z]+/[A-Za-z0-9\-.]{1,64}$")
_AUTHORIZATION_FIELDS = {
    "access_token": str,
    "token_type": str,
    "expires_in": int,
    "scope": str,
    "subject": str,
}


def check_request(fhir_input: FhirInput, service_hook: str) -> None:
    """Check a request read by `mdrcds.reading.fhir.read_bytes` against the hook its service answers."""
    if fhir_input.hook != service_hook:
        raise RequestError("hook", f"this service answers {service_hook!r}, not {fhir_input.hook!r}")
    instance = fhir_input.hook_instance
    if not isinstance(instance, str):
        raise RequestError("hookInstance", "required (a UUID)")
    try:
        uuid.UUID(instance)
    except ValueError:
        raise RequestError("hookInstance", "must be a UUID") from None
    _check_context(fhir_input.context, CONTEXT_FIELDS[service_hook])
    _check_fhir_access(fhir_input.fhir_server, fhir_input.fhir_authorization)


def _check_context(context: Mapping[str, Any], fields: tuple[ContextField, ...]) -> None:
    for spec in fields:
        where = f"context.{spec.name}"
        value = context.get(spec.name)
        if value is None:
            if spec.required:
                raise RequestError(where, "required")
            continue
        if spec.kind == "id" and not (isinstance(value, str) and _ID.match(value)):
            raise RequestError(where, "must be a FHIR logical id (e.g. '123', not 'Patient/123')")
        if spec.kind == "reference" and not (isinstance(value, str) and _REFERENCE.match(value)):
            raise RequestError(where, "must be a 'Type/id' reference")
        if spec.kind == "references" and not (
            isinstance(value, list) and all(isinstance(v, str) and _REFERENCE.match(v) for v in value)
        ):
            raise RequestError(where, "must be an array of 'Type/id' references")
        if spec.kind == "bundle" and not (isinstance(value, dict) and value.get("resourceType") == "Bundle"):
            raise RequestError(where, "must be a FHIR Bundle")


def _check_fhir_access(server: Any, authorization: Any) -> None:
    if server is not None:
        parts = urlsplit(server) if isinstance(server, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
            raise RequestError("fhirServer", "must be an absolute http(s) URL")
    if authorization is None:
        return
    if server is None:
        raise RequestError("fhirServer", "required when fhirAuthorization is present")
    if not isinstance(authorization, dict):
        raise RequestError("fhirAuthorization", "must be a JSON object")
    for name, kind in _AUTHORIZATION_FIELDS.items():
        value = authorization.get(name)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise RequestError(f"fhirAuthorization.{name}", f"required ({kind.__name__})")
    if authorization["token_type"] != "Bearer":
        raise RequestError("fhirAuthorization.token_type", "must be 'Bearer'")
