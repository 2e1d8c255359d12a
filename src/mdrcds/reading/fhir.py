"""FHIR in: read a CDS Hooks request, a Bundle or a single resource, and validate resources on demand.

This is the only module that imports `fhir.resources`. Reading is structural and cheap (one JSON parse,
no model construction); validation against the FHIR models is a separate call that the fact layer makes
only for the resources that can become facts, because validating every Observation of a large record
would cost more than the whole rest of an evaluation.
"""

from __future__ import annotations

import importlib
import logging
import os
import re
import stat
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import islice
from pathlib import Path
from typing import Any, Literal, NamedTuple, Protocol, get_args

import msgspec
import orjson
import pydantic
import simdjson

from mdrcds.errors import FhirValidationError, InputFormatError, NotAnInput
from mdrcds.reading.validated import ValidatedJson

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
        "MedicationDispense",
        "Medication",
        "Condition",
        "Observation",
        "Procedure",
    }
)
"""Resource types that can become facts; every other type is skipped without validation."""

_READ_TYPES = FACT_RESOURCE_TYPES | {"OperationOutcome", "Bundle"}

_LEARNT_CHECK_KEPT = 2
"""`_screen_entries`' mark for an entry the learnt check has already kept (not asked again)."""
_WITHOUT_STATUS = frozenset({"Patient", "Condition", "OperationOutcome", "Bundle"})
"""The types FHIR (R4 and R5) defines without a `status` element (of FACT_RESOURCE_TYPES and Bundle,
OperationOutcome); `tests/test_screen.py` checks it against the FHIR models."""

_USUALLY_PRESENT = frozenset({"resourceType", "id", "code", "subject", "status", "medicationCodeableConcept"})
"""Elements nearly every resource the rules read has (see `Resource._field`)."""

_BUNDLE_TYPES = {"collection", "transaction", "searchset", "batch", "transaction-response", "batch-response"}


class Resource:
    """One FHIR resource, decoded lazily: its JSON object is built only when asked for.

    Read from raw JSON, a resource is a view into the parsed document (a simdjson node): a record's
    hundreds of Observations are mostly irrelevant, `peek_code` converts just their `code`, and `json`
    converts the whole resource only for those that can become facts.
    """

    __slots__ = ("_json", "_keys", "_node", "_place", "full_url", "position", "resource_type")

    def __init__(
        self,
        resource_type: str,
        *,
        node: Any = None,
        json: JsonObject | None = None,
        full_url: str | None = None,
    ) -> None:
        self.resource_type = resource_type
        self.full_url = full_url
        self.position = 0  # index among the input's kept resources, for a name when there is no id
        # Where the input held it: (source, container path, entry index), formatted only when asked.
        self._place: tuple[str, str, int | None] = ("", "resource", None)
        self._node = node
        self._keys: frozenset[str] | None = None
        self._json = json

    @property
    def where(self) -> str:
        """Where the input held the resource ('request: prefetch.conditions.entry[3]'), for errors."""
        source, path, index = self._place
        place = path if index is None else f"{path}.entry[{index}]"
        return f"{source}: {place}" if source else place

    @property
    def json(self) -> JsonObject:
        """The resource as a JSON object."""
        if self._json is None:
            self._json = _plain(self._node)
            self._node = None
        return self._json

    def code_key(self) -> bytes | None:
        """The minified JSON of the resource's `code` element (b'null' when absent), read without
        converting the rest; None once the resource is converted. Equal keys are equal codes, so a
        caller may remember what a key classified to."""
        return self.element_key("code")

    def element_key(self, name: str) -> bytes | None:
        """The minified JSON of one top-level element (b'null' when absent), read without converting
        it; None once the resource is converted. As `code_key`, for any element."""
        if self._node is None:
            return None
        return _minified(self._field(name))

    def peek_code(self) -> Any:
        """The resource's `code` element, read without converting the rest of the resource."""
        if self._node is None:
            return self.json.get("code")
        return _plain(self._field("code"))

    def element(self, name: str) -> Any:
        """One top-level element, converted alone (the whole resource when already converted)."""
        if self._node is None:
            return self.json.get(name)
        return _plain(self._field(name))

    def reference_in(self, name: str) -> str | None:
        """The `reference` string of the named top-level Reference element, read alone."""
        if self._node is None:
            element = self.json.get(name)
            reference = element.get("reference") if isinstance(element, dict) else None
        else:
            element = self._field(name)
            reference = _member(element, "reference")
        return reference if isinstance(reference, str) else None

    def has_any(self, names: tuple[str, ...]) -> bool:
        """True when the resource has at least one of these top-level elements (one pass over its
        keys, without converting anything)."""
        if self._node is None:
            return any(name in self.json for name in names)
        if self._keys is None:
            self._keys = frozenset(self._node)  # made once: the screen and the builder both ask
        return any(name in self._keys for name in names)

    def named_twice(self) -> str | None:
        """A top-level member the resource's JSON names more than once, or None. Such JSON is
        ambiguous (RFC 8259 §4: software that receives it behaves unpredictably): simdjson answers a
        lookup with the first occurrence, a conversion to a dict keeps the last. None once converted."""
        node = self._node
        if node is None:
            return None
        if self._keys is None:
            self._keys = frozenset(node)
        if len(self._keys) == len(node):
            return None
        seen: set[str] = set()
        for name in node.keys():  # noqa: SIM118 (keys() lists duplicates; iterating the node may not)
            if name in seen:
                return str(name)
            seen.add(name)
        return None

    def may_match(self, pattern: re.Pattern[bytes]) -> bool:
        """False only when the resource's minified JSON has no match for the pattern (True once
        converted)."""
        node = self._node
        return node is None or pattern.search(_minified(node)) is not None

    def _field(self, name: str) -> Any:
        # A key that is usually present is asked for (`_member`); any other is looked up in the key
        # list first (made once per resource, which `has_any` and `named_twice` read too).
        node = self._node
        if name in _USUALLY_PRESENT:
            return _member(node, name)
        if self._keys is None:
            self._keys = frozenset(node)
        return node[name] if name in self._keys else None

    def reference(self) -> str:
        """'Type/id'; the Bundle fullUrl, or a positional name, when the resource has no id."""
        resource_id = self.element("id")
        if isinstance(resource_id, str) and resource_id:
            return f"{self.resource_type}/{resource_id}"
        return self.full_url or f"{self.resource_type}/#{self.position}"


def _member(node: Any, name: str) -> Any:
    """`node[name]` of a simdjson Object; None when the node is not an Object or lacks the member.
    An absence is found by `_lacks` (C++) rather than by simdjson's exception (about 2 microseconds),
    which only the Python fallback pays."""
    if not isinstance(node, simdjson.Object) or _lacks(node, name):
        return None
    try:
        return node[name]
    except KeyError:
        return None


def _plain(node: Any) -> Any:
    """A parsed node as plain Python data (dict, list, str, number, bool, None)."""
    if isinstance(node, simdjson.Object):
        return node.as_dict()
    if isinstance(node, simdjson.Array):
        return node.as_list()
    return node


def _minified(node: Any) -> bytes:
    if isinstance(node, simdjson.Object | simdjson.Array):
        mini: bytes | str = node.mini  # bytes at run time; the package's stub says str
        return mini if isinstance(mini, bytes) else mini.encode()
    return orjson.dumps(node)


_REUSED = threading.local()


def _parse(raw: bytes, where: str) -> Any:
    """Parse JSON into simdjson nodes (they stay valid as long as they are referenced). Every way
    bytes can fail (bad UTF-8, nesting, numbers out of range, a trailing byte) is an InputFormatError
    naming where the bytes were.

    Each thread reuses its parser once nothing points into the previous document: its buffers are
    already the size of the largest input, where a new parser's are fresh memory the system maps page
    by page. simdjson refuses to reuse a parser whose nodes are still referenced; then, as after any
    failure of the reused parser, a new parser parses the bytes and says whether they are valid."""
    parser = getattr(_REUSED, "parser", None)
    if parser is not None:
        try:
            return parser.parse(raw)
        except (ValueError, RuntimeError, UnicodeDecodeError):
            pass
    parser = _REUSED.parser = simdjson.Parser()
    try:
        return parser.parse(raw)
    except (ValueError, RuntimeError, UnicodeDecodeError) as exc:
        raise InputFormatError(f"{where}: not valid JSON ({_simdjson_reason(exc)})") from None


def _load(path: Path, where: str) -> Any:
    """Parse a regular file's JSON as `_parse` does, the file read straight into the reused parser's
    own buffer: no bytes object is made and nothing is copied (simdjson copies bytes it is given into
    that buffer first). Anything but a non-empty regular file (a pipe, /dev/stdin, a /proc file that
    reports size 0) is read as bytes and parsed: simdjson sizes the file by seeking, and a pipe it
    opened and closed again would lose what its writer sent. OSError as `Path.read_bytes` raises it."""
    status = os.stat(path)
    if not stat.S_ISREG(status.st_mode) or status.st_size == 0:
        return _parse(path.read_bytes(), where)
    # The file system's bytes: any file name, UTF-8 or not (the package's stub says str or Path only).
    name: Any = os.fsencode(path)
    parser = getattr(_REUSED, "parser", None)
    if parser is not None:
        try:
            return parser.load(name)
        except (ValueError, RuntimeError, UnicodeDecodeError, OSError):
            pass  # as in `_parse`: a new parser says why
    parser = _REUSED.parser = simdjson.Parser()
    try:
        return parser.load(name)
    except OSError:  # gone or unreadable since the stat: read_bytes raises the precise error
        return _parse(path.read_bytes(), where)
    except (ValueError, RuntimeError, UnicodeDecodeError) as exc:
        raise InputFormatError(f"{where}: not valid JSON ({_simdjson_reason(exc)})") from None


def _simdjson_reason(exc: BaseException) -> str:
    text = str(exc)
    # simdjson's error codes, in plain words (its own messages end "fatal and unrecoverable")
    for code, reason in (
        ("DEPTH_ERROR", "nested too deeply"),
        ("UTF8_ERROR", "invalid UTF-8"),
        ("NUMBER_ERROR", "a number out of range"),
        ("BIGINT_ERROR", "an integer out of range"),
        ("EMPTY", "empty"),
        ("TAPE_ERROR", "its structure is broken: a missing or extra comma, brace, bracket or quote"),
        ("UNCLOSED_STRING", "a string is not closed"),
        ("STRING_ERROR", "a string has a bad escape or control character"),
        (
            "N_ATOM_ERROR",
            "a bare word where a value should be (JSON has only true, false, null and quoted text)",
        ),
        (
            "T_ATOM_ERROR",
            "a bare word where a value should be (JSON has only true, false, null and quoted text)",
        ),
        (
            "F_ATOM_ERROR",
            "a bare word where a value should be (JSON has only true, false, null and quoted text)",
        ),
        ("UNESCAPED_CHARS", "a string holds an unescaped control character"),
        ("CAPACITY", "too large"),
    ):
        if code in text:
            return reason
    return text.splitlines()[0][:200] if text else type(exc).__name__


class KnownIrrelevant(NamedTuple):
    """What a screen has already learnt about one resource type, in a form the reader checks itself:
    a resource of the type is irrelevant when the raw JSON of its `element` is one of `keys` (a live
    set the screen keeps adding to), the key does not contain `unless_contains`, and the resource has
    none of the elements `unless_has`."""

    element: str
    keys: Collection[bytes]
    unless_contains: bytes | None = None
    unless_has: tuple[str, ...] = ()


class Screen(Protocol):
    """Says of a resource, from what it holds alone, that no fact can come from it (see `read_bytes`)."""

    def __call__(self, resource: Resource) -> bool: ...

    @property
    def known_irrelevant(self) -> Mapping[str, KnownIrrelevant]:
        """Per resource type, the answers already learnt (checked before a resource is wrapped)."""
        ...


_PATIENT_REFERENCE = re.compile(r"(?:^|/)Patient/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$")


@dataclass
class FhirInput:
    """One patient's data as read from a request or a Bundle, before any validation.

    `resources` holds only the types in FACT_RESOURCE_TYPES; `skipped` counts the others by type, and
    `screened` those the input's `screen` dismissed, by where they were (`$`, `prefetch.KEY`).
    `draft_refs` are the references ('MedicationRequest/1') of the hook's draft orders and
    `selection_refs` those of the order-select selections.
    """

    source: str
    hook: str
    hook_instance: str | None = None
    context: JsonObject = field(default_factory=dict)
    resources: list[Resource] = field(default_factory=list)
    draft_refs: set[str] = field(default_factory=set)
    selection_refs: list[str] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    prefetch_keys: list[str] = field(default_factory=list)
    operation_outcomes: list[str] = field(default_factory=list)
    fhir_server: Any = None
    fhir_authorization: Any = None
    screen: Screen | None = None
    screened: dict[str, int] = field(default_factory=dict)
    deadline: float | None = None
    """While reading: the `time.perf_counter()` past which reading stops with ReadingOverBudget."""

    @property
    def resource_count(self) -> int:
        """Resources of the types that can become facts: those kept and those screened out."""
        return len(self.resources) + sum(self.screened.values())

    def reference_of(self, resource: Resource) -> str:
        """'Type/id' for a resource; its Bundle fullUrl (or a positional name) when it has no id."""
        return resource.reference()

    def release(self) -> None:
        """Drop the resources, and with them the parsed document they point into, once evaluated.
        Freeing a large document takes tens of milliseconds: the service does it on its engine
        thread rather than wherever the last reference happens to go."""
        self.resources = []

    def medication_index(self) -> dict[str, JsonObject]:
        """Medication resources by every way another resource may refer to them."""
        index: dict[str, JsonObject] = {}
        for resource in self.resources:
            if resource.resource_type == "Medication":
                index[self.reference_of(resource)] = resource.json
                if resource.full_url:
                    index[resource.full_url] = resource.json
        return index


class ReadingOverBudget(Exception):
    """Reading went past the `deadline` given to `read_bytes` (the caller reads again elsewhere)."""


def read_bytes(
    data: bytes | str,
    *,
    source: str = "<input>",
    default_hook: str = "patient-view",
    screen: Screen | None = None,
    deadline: float | None = None,
) -> FhirInput:
    """Read raw JSON: a CDS Hooks request, a FHIR Bundle or a single FHIR resource.

    The fast path: one simdjson parse of the whole input; Bundle entries and prefetch values stay
    parsed nodes until a resource turns out to be needed (see `Resource`), and resource types that
    no rule reads are counted without being converted. Same results and errors as `read_input` on
    the parsed document.

    With a `screen` (`mdrcds.facts.screen.screen_for(terminology)`), a Bundle entry the screen
    dismisses is counted in `FhirInput.screened` and not kept, unless it is a draft order (status
    `draft`, or one of the hook's draftOrders) or, in a hook request, names another patient than
    context.patientId (`keep_patient` counts those). Resources fetched later (`add_fetched`) are
    screened too.

    With a `deadline` (a `time.perf_counter()` value), reading raises ReadingOverBudget once it is
    past it (checked every 64 Bundle entries): the service reads a small call on its event loop only
    as long as that stays short.
    """
    raw = data.encode() if isinstance(data, str) else data
    fhir_input = _read_document(_parse(raw, source), source, default_hook, screen, deadline)
    fhir_input.deadline = None  # what is added later (fetched prefetch keys) is read without one
    return fhir_input


def read_file(
    path: Path, *, source: str | None = None, default_hook: str = "patient-view", screen: Screen | None = None
) -> FhirInput:
    """`read_bytes` of a file's contents, the file read straight into the parser (see `_load`).
    Raises OSError when the file cannot be read, as `Path.read_bytes` does."""
    where = str(path) if source is None else source
    return _read_document(_load(path, where), where, default_hook, screen)


def _read_document(
    document: Any, source: str, default_hook: str, screen: Screen | None, deadline: float | None = None
) -> FhirInput:
    if not isinstance(document, simdjson.Object):
        kind = "an array" if isinstance(document, simdjson.Array) else type(document).__name__
        raise NotAnInput(f"{source}: not a CDS Hooks request or FHIR resource (a JSON object), got {kind}")
    keys = frozenset(document)

    def member(name: str) -> Any:
        return document[name] if name in keys else None

    hook = member("hook")
    if hook is not None:
        fhir_input = _hook_request(
            _plain(hook), _plain(member("hookInstance")), _plain(member("context")), source
        )
        fhir_input.screen = screen
        fhir_input.deadline = deadline
        fhir_input.fhir_server = _plain(member("fhirServer"))
        fhir_input.fhir_authorization = _plain(member("fhirAuthorization"))
        prefetch = member("prefetch")
        if prefetch is None:
            return fhir_input
        if not isinstance(prefetch, simdjson.Object):
            raise InputFormatError(f"{source}: prefetch must be a JSON object")
        for key in list(prefetch):
            fhir_input.prefetch_keys.append(key)
            value = prefetch[key]
            if value is not None:
                _add_node(fhir_input, value, source, f"prefetch.{key}")
        return fhir_input
    resource_type = member("resourceType")
    if resource_type is None:
        message = f"{source}: neither a CDS Hooks request (no 'hook') nor a FHIR resource (no 'resourceType')"
        if keys & {"hook", "resourceType"}:  # named but null: meant as an input, so a defective one
            raise InputFormatError(message)
        raise NotAnInput(message)
    fhir_input = FhirInput(
        source=source, hook=_known_hook(default_hook, source, "--hook"), screen=screen, deadline=deadline
    )
    if resource_type == "Bundle":
        _add_node_entries(fhir_input, document, source, "$")
    else:
        _add(fhir_input, document.as_dict(), source, "$")
    _mark_bundle_drafts(fhir_input)
    return fhir_input


def read_input(document: Any, *, source: str = "<input>", default_hook: str = "patient-view") -> FhirInput:
    """Read a parsed JSON document: a CDS Hooks request, a FHIR Bundle or a single FHIR resource.

    A CDS Hooks request carries its own hook; anything else is evaluated as `default_hook`.
    Raises InputFormatError for any other shape, an unknown hook or a malformed context.
    """
    if not isinstance(document, dict):
        raise NotAnInput(f"{source}: expected a JSON object, got {type(document).__name__}")
    if "hook" in document:
        fhir_input = _hook_request(
            document.get("hook"), document.get("hookInstance"), document.get("context"), source
        )
        fhir_input.fhir_server = document.get("fhirServer")
        fhir_input.fhir_authorization = document.get("fhirAuthorization")
        prefetch = document.get("prefetch") or {}
        if not isinstance(prefetch, dict):
            raise InputFormatError(f"{source}: prefetch must be a JSON object")
        for key, value in prefetch.items():
            fhir_input.prefetch_keys.append(key)
            if value is not None:
                if not isinstance(value, dict):
                    raise InputFormatError(
                        f"{source}: prefetch.{key} must be a FHIR resource, a Bundle or null"
                    )
                _add(fhir_input, value, source, f"prefetch.{key}")
        return fhir_input
    if "resourceType" in document:
        fhir_input = FhirInput(source=source, hook=_known_hook(default_hook, source, "--hook"))
        _add(fhir_input, document, source, "$")
        _mark_bundle_drafts(fhir_input)
        return fhir_input
    raise NotAnInput(
        f"{source}: neither a CDS Hooks request (no 'hook') nor a FHIR resource (no 'resourceType')"
    )


class _Ref(msgspec.Struct):
    reference: Any = None


class _Owner(msgspec.Struct):
    """Only what says which patient a resource belongs to."""

    resourceType: Any = None
    id: Any = None
    subject: _Ref | None = None
    patient: _Ref | None = None


_OWNER_DECODER = msgspec.json.Decoder(_Owner)


def patient_of_raw(raw: bytes) -> str | None:
    """The id of the patient a raw resource belongs to (Patient.id, subject or patient reference).

    Decodes only those fields. Raises InputFormatError for JSON that is not a resource object.
    """
    try:
        owner = _OWNER_DECODER.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise InputFormatError(f"not a FHIR resource ({exc})") from None
    if owner.resourceType == "Patient":
        return owner.id if isinstance(owner.id, str) else None
    for ref in (owner.subject, owner.patient):
        if ref is not None and isinstance(ref.reference, str) and ref.reference.startswith("Patient/"):
            return ref.reference[len("Patient/") :]
    return None


def keep_patient(fhir_input: FhirInput, patient_id: str) -> int:
    """Drop the resources that belong to another patient than `patient_id` (the hook's
    context.patientId): a Patient with another id, or a resource whose `subject`/`patient` reference
    names another Patient. A reference that cannot be resolved (urn:uuid, a contained one) is kept.
    Returns how many were dropped; never decodes more than those three elements of a resource."""
    kept: list[Resource] = []
    for resource in fhir_input.resources:
        if resource.resource_type == "Medication" or _same_patient(resource, patient_id):
            kept.append(resource)
    dropped = len(fhir_input.resources) - len(kept)
    fhir_input.resources = kept
    return dropped


def drop_unadvertised_prefetch(fhir_input: FhirInput, advertised: Mapping[str, str]) -> int:
    """Drop the resources sent under prefetch keys the service never asked for; returns how many."""
    kept = [r for r in fhir_input.resources if _prefetch_key(r.where) in (None, *advertised)]
    screened = {
        path: count
        for path, count in fhir_input.screened.items()
        if _prefetch_key(f": {path}") in (None, *advertised)
    }
    dropped = fhir_input.resource_count - len(kept) - sum(screened.values())
    fhir_input.resources = kept
    fhir_input.screened = screened
    fhir_input.prefetch_keys = [k for k in fhir_input.prefetch_keys if k in advertised]
    return dropped


def _prefetch_key(where: str) -> str | None:
    marker = ": prefetch."
    if marker not in where:
        return None
    return where.split(marker, 1)[1].split(".", 1)[0]


def _same_patient(resource: Resource, patient_id: str) -> bool:
    if resource.resource_type == "Patient":
        found_id = resource.element("id")
        return not isinstance(found_id, str) or found_id == patient_id
    # Every resource type read here names its patient in `subject`; `patient` (other types' element)
    # is looked for only when there is no subject.
    reference = resource.reference_in("subject") or resource.reference_in("patient")
    match = _PATIENT_REFERENCE.search(reference) if reference else None
    return match is None or match.group(1) == patient_id


def add_fetched(fhir_input: FhirInput, data: bytes, *, where: str) -> None:
    """Add a resource or Bundle fetched on the input's behalf (e.g. a missing prefetch key).

    `where` names it in error messages and OperationOutcome paths (e.g. 'prefetch.conditions').
    """
    _add_node(fhir_input, _parse(data, f"{fhir_input.source}: {where}"), fhir_input.source, where)


def _known_hook(hook: object, source: str, where: str) -> str:
    if not isinstance(hook, str) or hook not in HOOKS:
        raise InputFormatError(
            f"{source}: unknown hook {hook!r} in {where} (expected one of {', '.join(HOOKS)})"
        )
    return hook


def _mark_bundle_drafts(fhir_input: FhirInput) -> None:
    """Outside a hook request, the orders being placed are the draft MedicationRequests."""
    if fhir_input.hook == "patient-view":
        return
    drafts = [
        fhir_input.reference_of(r)
        for r in fhir_input.resources
        if r.resource_type == "MedicationRequest" and r.element("status") == "draft"
    ]
    fhir_input.draft_refs.update(drafts)
    fhir_input.selection_refs = drafts


def _hook_request(hook: object, hook_instance: object, context: object, source: str) -> FhirInput:
    hook = _known_hook(hook, source, "hook")
    if hook_instance is not None and not isinstance(hook_instance, str):
        raise InputFormatError(f"{source}: hookInstance must be a string")
    if not isinstance(context, dict):
        raise InputFormatError(f"{source}: context must be a JSON object")
    fhir_input = FhirInput(source=source, hook=hook, hook_instance=hook_instance, context=context)
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
    return fhir_input


def _keep(fhir_input: FhirInput, resource: Resource, path: str, index: int | None = None) -> bool:
    resource._place = (fhir_input.source, path, index)
    if resource.resource_type == "OperationOutcome":
        fhir_input.operation_outcomes.append(path)
    elif resource.resource_type in FACT_RESOURCE_TYPES:
        resource.position = fhir_input.resource_count
        fhir_input.resources.append(resource)
        return True
    else:
        fhir_input.skipped[resource.resource_type] = fhir_input.skipped.get(resource.resource_type, 0) + 1
    return False


def _add(fhir_input: FhirInput, resource: JsonObject, source: str, where: str) -> list[Resource]:
    """Add a parsed resource (or a Bundle's entries) to the input; return the resources kept."""
    added: list[Resource] = []
    for item, full_url, path in _flatten(resource, source, where):
        wrapped = Resource(item["resourceType"], json=item, full_url=full_url)
        if _keep(fhir_input, wrapped, path):
            added.append(wrapped)
    return added


def _add_node(fhir_input: FhirInput, node: Any, source: str, where: str) -> None:
    """Add a parsed resource (or a Bundle's entries) to the input."""
    if not isinstance(node, simdjson.Object):
        raise InputFormatError(f"{source}: {where} must be a FHIR resource, a Bundle or null")
    resource_type = _member(node, "resourceType")
    if resource_type == "Bundle":
        _add_node_entries(fhir_input, node, source, where)
    elif isinstance(resource_type, str):
        _keep(fhir_input, Resource(resource_type, node=node), where)
    else:
        _add(fhir_input, node.as_dict(), source, where)  # names the missing resourceType


def _add_node_entries(fhir_input: FhirInput, bundle: Any, source: str, where: str) -> None:
    bundle_type = _member(bundle, "type")
    if not isinstance(bundle_type, str) or bundle_type not in _BUNDLE_TYPES:
        raise InputFormatError(f"{source}: {where} is a Bundle of unsupported type {_plain(bundle_type)!r}")
    entries = _member(bundle, "entry")
    if entries is None:
        return
    if not isinstance(entries, simdjson.Array):
        raise InputFormatError(f"{source}: {where} is not a valid Bundle (entry must be an array)")
    skipped = fhir_input.skipped
    screened = fhir_input.screened
    drafts = fhir_input.draft_refs
    screen = fhir_input.screen
    known = screen.known_irrelevant if screen is not None else {}
    patient = fhir_input.context.get("patientId")
    patient = patient if isinstance(patient, str) else None
    own_reference = f"Patient/{patient}" if patient is not None else None
    deadline = fhir_input.deadline
    # Most of a large record stops at the first lines of the loop below; `_screen_entries` (C++) takes
    # those lines for every entry at once, and the loop then looks only at the entries it wants.
    first_look = _screen_entries(entries, known, _READ_TYPES, own_reference, drafts)
    wanted: bytes | None = None
    if first_look is not None:
        wanted, skipped_here, screened_here = first_look
        for skipped_type, count in skipped_here.items():
            skipped[skipped_type] = skipped.get(skipped_type, 0) + count
        if screened_here:
            screened[where] = screened.get(where, 0) + screened_here
        entries = islice(entries, len(wanted.rstrip(b"\x00")))  # none wanted past the last one wanted
    # The checks are written out here rather than in helpers (a call costs as much as a check).
    for index, entry in enumerate(entries):
        if deadline is not None and not index & 63 and time.perf_counter() > deadline:
            raise ReadingOverBudget(f"{source}: {where}.entry[{index}] reached past the reading deadline")
        if wanted is not None and not wanted[index]:
            continue
        if not isinstance(entry, simdjson.Object):
            raise InputFormatError(
                f"{source}: {where} is not a valid Bundle (entry[{index}] must be an object)"
            )
        try:
            resource = entry["resource"]  # nearly always there: only an absence pays for the exception
        except KeyError:
            continue
        if resource is None:
            continue
        try:
            resource_type = resource["resourceType"] if isinstance(resource, simdjson.Object) else None
        except KeyError:
            resource_type = None
        if not isinstance(resource_type, str):
            raise InputFormatError(f"{source}: {where}.entry[{index}].resource has no resourceType")
        rule = known.get(resource_type)
        if rule is None:
            if resource_type not in _READ_TYPES:
                # Most of a record (claims, encounters) is skipped: counted, never converted.
                skipped[resource_type] = skipped.get(resource_type, 0) + 1
                continue
        elif wanted is None or wanted[index] != _LEARNT_CHECK_KEPT:
            # Most of a record: dismissed by a code seen before, without wrapping the resource.
            dismissed = _learnt_check(resource, rule, own_reference, drafts, resource_type)
            if dismissed is None:
                dismissed = _known_irrelevant(resource, rule, own_reference, drafts, resource_type)
            if dismissed:
                screened[where] = screened.get(where, 0) + 1
                continue
        full_url = _member(entry, "fullUrl")
        full_url = full_url if isinstance(full_url, str) else None
        wrapped = Resource(resource_type, node=resource, full_url=full_url)
        if screen is not None and screen(wrapped) and _screenable(fhir_input, wrapped, patient):
            screened[where] = screened.get(where, 0) + 1
            continue
        _keep(fhir_input, wrapped, where, index)


def _known_irrelevant(
    node: Any, rule: KnownIrrelevant, own_reference: str | None, drafts: set[str], resource_type: str
) -> bool:
    """True when the screen's learnt answers dismiss this parsed resource and nothing else keeps it
    (the checks of `_screenable`, on the node). False means "ask the screen", never "relevant"."""
    # simdjson is asked for keys directly: a present key costs 0.1 microsecond, an absent one raises.
    try:
        element = node[rule.element]
    except KeyError:
        return False
    if element is None:
        return False
    key = _minified(element)
    if key not in rule.keys or (rule.unless_contains is not None and rule.unless_contains in key):
        return False
    # simdjson answers an absent key with an exception (about 2 microseconds); a type without a
    # status element (a Condition) is asked through one listing of its names instead (about 0.6).
    names = frozenset(node.keys()) if rule.unless_has or resource_type in _WITHOUT_STATUS else None
    if names is None or "status" in names:
        try:
            if node["status"] == "draft":
                return False
        except KeyError:
            pass
    if drafts:
        # One of the hook's draft orders (by 'Type/id', as `Resource.reference` names it) is kept;
        # a resource without an id is left to the screen, which names it by fullUrl or position.
        resource_id = _member(node, "id")
        if not isinstance(resource_id, str) or not resource_id or f"{resource_type}/{resource_id}" in drafts:
            return False
    if own_reference is not None and _member(_member(node, "subject"), "reference") != own_reference:
        return False
    if names is None or not rule.unless_has:
        return True
    # No element that names the drug elsewhere, and none named twice (ambiguous JSON: the screen keeps
    # such a record, and the fact builder refuses it).
    return len(names) == len(node) and names.isdisjoint(rule.unless_has)


def _not_known_to_lack(node: Any, name: str) -> bool | None:
    """The Python stand-in for `_learnt.lacks`: nothing known, so the member is asked for (an absent
    one costs pysimdjson's KeyError)."""
    return None


FirstLook = tuple[bytes, dict[str, int], int]
"""What `_learnt.screen_entries` answers: the entries wanted, the types skipped, the count dismissed."""


def _no_first_look(
    entries: Any,
    known: Mapping[str, KnownIrrelevant],
    read_types: Collection[str],
    own: str | None,
    drafts: set[str],
) -> FirstLook | None:
    """The Python stand-in for `_learnt.screen_entries`: no first look, so the reader's loop looks at
    every entry itself (an entry without a resource costs pysimdjson's KeyError, about 2 microseconds)."""
    return None


def _choose_native() -> tuple[
    Callable[[Any, KnownIrrelevant, str | None, set[str], str], bool | None],
    Callable[[Any, Mapping[str, KnownIrrelevant], Collection[str], str | None, set[str]], FirstLook | None],
    Callable[[Any, str], bool | None],
]:
    """The reader's learnt-code check and member checks: `mdrcds.reading._learnt` (C++ over simdjson's
    document, built at install, decision 0013; half the Python check's time, a Bundle's entries looked
    at all at once, and a resource without an element found without an exception), else
    `_known_irrelevant`, `_no_first_look` and `_not_known_to_lack`, with a warning."""
    try:
        from mdrcds.reading._learnt import known_irrelevant, lacks, screen_entries
    except ImportError as exc:
        logging.getLogger(__name__).warning(
            "mdrcds.reading._learnt is not available (%s): the reader's screen runs in Python, slower", exc
        )
        return _known_irrelevant, _no_first_look, _not_known_to_lack
    return known_irrelevant, screen_entries, lacks


_learnt_check, _screen_entries, _lacks = _choose_native()


def _screenable(fhir_input: FhirInput, resource: Resource, patient: str | None) -> bool:
    """Whether a resource the screen dismissed may go uncounted by what comes after reading: not a
    draft order (validated whatever it names) and not another patient's (counted by keep_patient)."""
    if resource.element("status") == "draft":
        return False
    if fhir_input.draft_refs and resource.reference() in fhir_input.draft_refs:
        return False
    if patient is None or resource.reference_in("subject") == f"Patient/{patient}":
        return True
    return _same_patient(resource, patient)


def _flatten(resource: JsonObject, source: str, where: str) -> Iterator[tuple[JsonObject, str | None, str]]:
    resource_type = resource.get("resourceType")
    if not isinstance(resource_type, str):
        raise InputFormatError(f"{source}: {where} has no resourceType")
    if resource_type != "Bundle":
        yield resource, None, where
        return
    if not isinstance(resource.get("type"), str) or resource.get("type") not in _BUNDLE_TYPES:
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
    A resource whose exact JSON was found valid before (by any caller in the process) is not validated
    again (`mdrcds.reading.validated`).
    """
    package = "fhir.resources.R4B" if fhir_version == "R4" else "fhir.resources"
    valid = _VALID[package]

    def validate(resource: JsonObject) -> None:
        try:
            key: bytes | None = orjson.dumps(resource)
        except TypeError:  # not expressible as JSON again (an integer past 64 bits): validated each time
            key = None
        if key is not None and key in valid:
            return
        resource_type = str(resource.get("resourceType"))
        model = _model_class(package, resource_type)
        try:
            model.model_validate(resource)
        except pydantic.ValidationError as exc:
            error = exc.errors()[0]
            raise FhirValidationError(
                resource_type, resource.get("id"), _json_path(error["loc"]), error["msg"]
            ) from None
        if key is not None:
            valid.add(key)

    return validate


_VALID = {package: ValidatedJson() for package in ("fhir.resources.R4B", "fhir.resources")}


def build_resource(data: JsonObject, fhir_version: FhirVersion = "R4") -> JsonObject:
    """Construct `data` as a fhir.resources model and return the JSON serialised from that model.

    What mdrcds writes as FHIR (DetectedIssue, PlanDefinition, ValueSet, Library, Bundle) goes through
    here, so every resource it hands out is one the FHIR models accept; FhirValidationError otherwise.
    """
    package = "fhir.resources.R4B" if fhir_version == "R4" else "fhir.resources"
    resource_type = str(data.get("resourceType"))
    model = _model_class(package, resource_type)
    try:
        instance = model.model_validate(data)
    except pydantic.ValidationError as exc:
        error = exc.errors()[0]
        raise FhirValidationError(
            resource_type, data.get("id"), _json_path(error["loc"]), error["msg"]
        ) from None
    built: JsonObject = orjson.loads(instance.model_dump_json(exclude_none=True))
    return built


def preload_models(fhir_version: FhirVersion = "R4") -> int:
    """Import the FHIR model of every resource type that can become a fact and, through their
    elements, every datatype model they use; returns how many models. fhir.resources imports an
    element's model on first use, so without this a process's first records pay for the imports (the
    first Synthea record took about 60 ms more than the rest). Called once per process at start-up
    (`mdrcds.service.warm_up`)."""
    from fhir_core.types import FhirBase

    def element_types(annotation: Any) -> Iterator[Any]:
        if isinstance(annotation, type) and issubclass(annotation, FhirBase):
            yield annotation
        for argument in get_args(annotation):
            yield from element_types(argument)

    package = "fhir.resources.R4B" if fhir_version == "R4" else "fhir.resources"
    seen: set[type[pydantic.BaseModel]] = set()
    pending = [_model_class(package, resource_type) for resource_type in sorted(FACT_RESOURCE_TYPES)]
    seen.update(pending)
    while pending:
        model = pending.pop()
        for info in model.model_fields.values():
            for element in element_types(info.annotation):
                linked = element.get_model_klass()
                if linked not in seen:
                    seen.add(linked)
                    pending.append(linked)
    return len(seen)


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
