"""JSON Schemas of the HTTP contract (CDS Hooks 2.0), for the OpenAPI document (api/openapi.json).

Loose where the specification is open (`context` and `prefetch` hold FHIR data), strict on the fields
the service checks; every error status is documented with its OperationOutcome body.
"""

from __future__ import annotations

from typing import Any

JsonSchema = dict[str, Any]

CODING: JsonSchema = {
    "type": "object",
    "properties": {"system": {"type": "string"}, "code": {"type": "string"}, "display": {"type": "string"}},
}

HOOK_REQUEST: JsonSchema = {
    "type": "object",
    "required": ["hook", "hookInstance", "context"],
    "properties": {
        "hook": {"type": "string", "enum": ["patient-view", "order-select", "order-sign"]},
        "hookInstance": {"type": "string", "format": "uuid"},
        "fhirServer": {"type": "string", "format": "uri"},
        "fhirAuthorization": {
            "type": "object",
            "required": ["access_token", "token_type", "expires_in", "scope", "subject"],
            "properties": {
                "access_token": {"type": "string"},
                "token_type": {"type": "string", "enum": ["Bearer"]},
                "expires_in": {"type": "integer"},
                "scope": {"type": "string"},
                "subject": {"type": "string"},
            },
        },
        "context": {
            "type": "object",
            "required": ["userId", "patientId"],
            "properties": {"userId": {"type": "string"}, "patientId": {"type": "string"}},
        },
        "prefetch": {"type": "object", "additionalProperties": {"type": ["object", "null"]}},
    },
}

CARDS_RESPONSE: JsonSchema = {
    "type": "object",
    "required": ["cards"],
    "properties": {
        "cards": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["summary", "indicator", "source"],
                "properties": {
                    "uuid": {"type": "string"},
                    "summary": {"type": "string", "maxLength": 140},
                    "detail": {"type": "string"},
                    "indicator": {"type": "string", "enum": ["info", "warning", "critical"]},
                    "source": {
                        "type": "object",
                        "required": ["label"],
                        "properties": {
                            "label": {"type": "string"},
                            "url": {"type": "string"},
                            "topic": CODING,
                        },
                    },
                    "suggestions": {"type": "array", "items": {"type": "object", "required": ["label"]}},
                    "selectionBehavior": {"type": "string", "enum": ["at-most-one", "any"]},
                    "overrideReasons": {"type": "array", "items": CODING},
                    "links": {
                        "type": "array",
                        "items": {"type": "object", "required": ["label", "url", "type"]},
                    },
                },
            },
        }
    },
}

FEEDBACK_REQUEST: JsonSchema = {
    "type": "object",
    "required": ["feedback"],
    "properties": {
        "feedback": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["card", "outcome", "outcomeTimestamp"],
                "properties": {
                    "card": {"type": "string"},
                    "outcome": {"type": "string", "enum": ["accepted", "overridden"]},
                    "outcomeTimestamp": {"type": "string", "format": "date-time"},
                    "acceptedSuggestions": {"type": "array", "items": {"type": "object"}},
                    "overrideReason": {"type": "object"},
                },
            },
        }
    },
}

FEEDBACK_RESPONSE: JsonSchema = {
    "type": "object",
    "required": ["received"],
    "properties": {"received": {"type": "integer", "minimum": 0}},
}

OPERATION_OUTCOME: JsonSchema = {
    "type": "object",
    "required": ["resourceType", "issue"],
    "properties": {
        "resourceType": {"type": "string", "enum": ["OperationOutcome"]},
        "issue": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["severity", "code"],
                "properties": {
                    "severity": {"type": "string"},
                    "code": {"type": "string"},
                    "diagnostics": {"type": "string"},
                    "expression": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
    },
}

_ERRORS = {
    "400": "Malformed request (JSON, hook, hookInstance, context, fhirAuthorization, prefetch shape)",
    "401": "Missing or invalid JWT (a bare OperationOutcome, code login)",
    "404": "Unknown service",
    "408": "Body not received within MDRCDS_BODY_SECONDS",
    "412": "Prefetch data missing and not obtainable from the FHIR server",
    "413": "Body over MDRCDS_MAX_BODY_BYTES",
    "422": "Invalid FHIR resource, or over a per-evaluation limit",
    "500": "Internal fault (never bad input); audited",
    "503": "Bodies being received already hold MDRCDS_BODY_BYTES_IN_FLIGHT; retry (Retry-After)",
}


def _outcome(description: str) -> JsonSchema:
    return {"description": description, "content": {"application/fhir+json": {"schema": OPERATION_OUTCOME}}}


def request_body(schema: JsonSchema) -> JsonSchema:
    """An `openapi_extra` that documents a JSON request body."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def responses(ok: JsonSchema, description: str, errors: tuple[str, ...]) -> dict[int | str, JsonSchema]:
    """The responses of a route: 200 with `ok`, and each error status with an OperationOutcome."""
    documented: dict[int | str, JsonSchema] = {
        200: {"description": description, "content": {"application/json": {"schema": ok}}}
    }
    documented.update({int(status): _outcome(_ERRORS[status]) for status in errors})
    return documented
