"""FHIR in: read a CDS Hooks request, a Bundle or a single resource, and validate resources on demand.

This is the only module that imports `fhir.resources`. Reading is structural and cheap (one JSON parse,
no model construction); validation against the FHIR models is a separate call that the fact layer makes
only for the resources that can become facts, because validating every Observation of a large record
would cost more than the whole rest of an evaluation.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

import orjson
import pydantic

from mdrcds.errors import FhirValidationError, InputFormatError

FhirVersion = Literal["R4", "R5"]
JsonObject = dict[str, Any]

HOOKS = ("patient-view", "order-select", "order-sign")
"""The CDS Hooks this service answers."""

FACT_RESOURCE_TYPES = frozenset(
    {
        "Patient",
        "MedicationRequest",
        "MedicationStatement",
        "MedicationAdministration",
        "Medication",
        "Condition",
        "Observation",
        "Procedure",
    }
)
"""Resource types that can become facts; every other type is skipped without validation."""

_BUNDLE_TYPES = {"collection", "transaction", "searchset", "batch", "transaction-response", "batch-response"}


@dataclass
class FhirInput:
    """One patient's data as read from a request or a Bundle, before any validation.

    `resources` holds only the types in FACT_RESOURCE_TYPES; `skipped` counts the others by type.
    `draft_refs` are the references ('MedicationRequest/1') of the hook's draft orders and
    `selection_refs` those of the order-select selections.
    """

    source: str
    hook: str
    hook_instance: str | None = None
    context: JsonObject = field(default_factory=dict)
    resources: list[JsonObject] = field(default_factory=list)
    full_urls: dict[int, str] = field(default_factory=dict)
    draft_refs: set[str] = field(default_factory=set)
    selection_refs: list[str] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    prefetch_keys: list[str] = field(default_factory=list)
    operation_outcomes: list[str] = field(default_factory=list)
    is_hook_request: bool = False

    def reference_of(self, resource: Mapping[str, Any]) -> str:
        """'Type/id' for a resource; its Bundle fullUrl (or a positional name) when it has no id."""
        resource_id = resource.get("id")
        if isinstance(resource_id, str) and resource_id:
            return f"{resource['resourceType']}/{resource_id}"
        return self.full_urls.get(id(resource)) or f"{resource['resourceType']}/#{self.resources.index(resource)}"

    def medication_index(self) -> dict[str, JsonObject]:
        """Medication resources by every way another resource may refer to them."""
        index: dict[str, JsonObject] = {}
        for resource in self.resources:
            if resource.get("resourceType") == "Medication":
                index[self.reference_of(resource)] = resource
                full_url = self.full_urls.get(id(resource))
                if full_url:
                    index[full_url] = resource
        return index


def parse_json(data: bytes | str, source: str) -> Any:
    """Parse JSON text; a malformed document raises InputFormatError naming the source and position."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InputFormatError(f"{source}: not valid JSON ({exc})") from None


def read_input(document: Any, *, source: str = "<input>", default_hook: str = "patient-view") -> FhirInput:
    """Read a parsed JSON document: a CDS Hooks request, a FHIR Bundle or a single FHIR resource.

    A CDS Hooks request carries its own hook; anything else is evaluated as `default_hook`.
    Raises InputFormatError for any other shape, an unknown hook or a malformed context.
    """
    if not isinstance(document, dict):
        raise InputFormatError(f"{source}: expected a JSON object, got {type(document).__name__}")
    if "hook" in document:
        return _read_hook_request(document, source)
    if "resourceType" in document:
        fhir_input = FhirInput(source=source, hook=_known_hook(default_hook, source, "--hook"))
        _add(fhir_input, document, source, "$")
        if fhir_input.hook != "patient-view":
            # Outside a hook request, the orders being placed are the draft MedicationRequests.
            drafts = [
                fhir_input.reference_of(r)
                for r in fhir_input.resources
                if r["resourceType"] == "MedicationRequest" and r.get("status") == "draft"
            ]
            fhir_input.draft_refs.update(drafts)
            fhir_input.selection_refs = drafts
        return fhir_input
    raise InputFormatError(f"{source}: neither a CDS Hooks request (no 'hook') nor a FHIR resource (no 'resourceType')")


def _known_hook(hook: object, source: str, where: str) -> str:
    if not isinstance(hook, str) or hook not in HOOKS:
        raise InputFormatError(f"{source}: unknown hook {hook!r} in {where} (expected one of {', '.join(HOOKS)})")
    return hook


def _read_hook_request(document: JsonObject, source: str) -> FhirInput:
    hook = _known_hook(document.get("hook"), source, "hook")
    hook_instance = document.get("hookInstance")
    if hook_instance is not None and not isinstance(hook_instance, str):
        raise InputFormatError(f"{source}: hookInstance must be a string")
    context = document.get("context")
    if not isinstance(context, dict):
        raise InputFormatError(f"{source}: context must be a JSON object")
    fhir_input = FhirInput(
        source=source, hook=hook, hook_instance=hook_instance, context=context, is_hook_request=True
    )
    if hook in ("order-select", "order-sign"):
        drafts = context.get("draftOrders")
        if not isinstance(drafts, dict) or drafts.get("resourceType") != "Bundle":
            raise InputFormatError(f"{source}: context.draftOrders must be a FHIR Bundle for {hook}")
        for resource in _add(fhir_input, drafts, source, "context.draftOrders"):
            fhir_input.draft_refs.add(fhir_input.reference_of(resource))
    if hook == "order-select":
        selections = context.get("selections")
        if not isinstance(selections, list) or not all(isinstance(s, str) for s in selections):
            raise InputFormatError(f"{source}: context.selections must be an array of 'Type/id' strings")
        fhir_input.selection_refs = list(selections)
    prefetch = document.get("prefetch") or {}
    if not isinstance(prefetch, dict):
        raise InputFormatError(f"{source}: prefetch must be a JSON object")
    for key, value in prefetch.items():
        fhir_input.prefetch_keys.append(key)
        if value is None:
            continue
        if not isinstance(value, dict) or "resourceType" not in value:
            raise InputFormatError(f"{source}: prefetch.{key} must be a FHIR resource, a Bundle or null")
        _add(fhir_input, value, source, f"prefetch.{key}")
    return fhir_input


def _add(fhir_input: FhirInput, resource: JsonObject, source: str, where: str) -> list[JsonObject]:
    """Add a resource (or a Bundle's entries) to the input; return the resources added."""
    added: list[JsonObject] = []
    for item, full_url, path in _flatten(resource, source, where):
        resource_type = item["resourceType"]
        if resource_type == "OperationOutcome":
            fhir_input.operation_outcomes.append(path)
        elif resource_type in FACT_RESOURCE_TYPES:
            fhir_input.resources.append(item)
            if full_url:
                fhir_input.full_urls[id(item)] = full_url
            added.append(item)
        else:
            fhir_input.skipped[resource_type] = fhir_input.skipped.get(resource_type, 0) + 1
    return added


def _flatten(resource: JsonObject, source: str, where: str) -> Iterator[tuple[JsonObject, str | None, str]]:
    resource_type = resource.get("resourceType")
    if not isinstance(resource_type, str):
        raise InputFormatError(f"{source}: {where} has no resourceType")
    if resource_type != "Bundle":
        yield resource, None, where
        return
    if resource.get("type") not in _BUNDLE_TYPES:
        raise InputFormatError(f"{source}: {where} is a Bundle of unsupported type {resource.get('type')!r}")
    entries = resource.get("entry") or []
    if not isinstance(entries, list):
        raise InputFormatError(f"{source}: {where}.entry must be an array")
    for index, entry in enumerate(entries):
        item = entry.get("resource") if isinstance(entry, dict) else None
        if item is None:
            continue
        if not isinstance(item, dict) or not isinstance(item.get("resourceType"), str):
            raise InputFormatError(f"{source}: {where}.entry[{index}].resource has no resourceType")
        full_url = entry.get("fullUrl")
        yield item, full_url if isinstance(full_url, str) else None, f"{where}.entry[{index}]"


Validator = Callable[[JsonObject], None]


def validator(fhir_version: FhirVersion = "R4") -> Validator:
    """A function that validates one resource against the FHIR models and raises FhirValidationError.

    R4 input is validated with the R4B models, which read R4 JSON for every type mdrcds uses.
    """
    package = "fhir.resources.R4B" if fhir_version == "R4" else "fhir.resources"

    def validate(resource: JsonObject) -> None:
        resource_type = str(resource.get("resourceType"))
        model = _model_class(package, resource_type)
        try:
            model.model_validate(resource)
        except pydantic.ValidationError as exc:
            error = exc.errors()[0]
            raise FhirValidationError(
                resource_type, resource.get("id"), _json_path(error["loc"]), error["msg"]
            ) from None

    return validate


@lru_cache(maxsize=32)
def _model_class(package: str, resource_type: str) -> type[pydantic.BaseModel]:
    module = importlib.import_module(package)
    model: type[pydantic.BaseModel] = module.get_fhir_model_class(resource_type)
    return model


def _json_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(resource)"
