"""The reader's learnt-code check in C++ (mdrcds.reading._learnt) answers as the Python check does.

The reader dismisses most of a large record by one question: does this resource name a code the screen
has learnt classifies to nothing, and does nothing else keep it (a draft, another patient's subject, a
Medication named elsewhere, a member named twice)? `mdrcds.reading._learnt` asks it of simdjson's
parsed document; `mdrcds.reading.fhir._known_irrelevant` asks it in Python. Both must give the same
answer for every resource of the samples and for any object of the shapes below, hostile ones included
(duplicate members, members of the wrong type)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import orjson
import pytest
import simdjson
from hypothesis import event, given, settings
from hypothesis import strategies as st

from mdrcds.errors import InputFormatError
from mdrcds.facts.screen import screen_for
from mdrcds.knowledge.rulebook import Rulebook
from mdrcds.reading import _learnt, fhir
from mdrcds.reading.fhir import KnownIrrelevant
from test_screen import SAMPLE_INPUTS


def test_the_reader_uses_the_built_check() -> None:
    # The build compiled it and its check of pysimdjson's object and array layouts passed on import.
    assert fhir._learnt_check is _learnt.known_irrelevant
    assert fhir._screen_entries is _learnt.screen_entries
    assert fhir._lacks is _learnt.lacks


def both(node: Any, rule: KnownIrrelevant, own: str | None, drafts: set[str], resource_type: str) -> bool:
    native = _learnt.known_irrelevant(node, rule, own, drafts, resource_type)
    python = fhir._known_irrelevant(node, rule, own, drafts, resource_type)
    assert native is None or native == python, (rule, own, drafts)
    return python


def resources_of(document: Any) -> list[Any]:
    """The resources of a Bundle, of a request's prefetch Bundles, or the resource itself."""
    if "context" in document:  # a CDS Hooks request
        values = [v for v in (document.get("prefetch") or {}).values() if isinstance(v, simdjson.Object)]
        return [r for value in values for r in resources_of(value)]
    if document.get("resourceType") == "Bundle":
        return [e["resource"] for e in document.get("entry") or [] if "resource" in e]
    return [document]


def test_every_sample_resource_gets_the_python_answer(rulebook: Rulebook) -> None:
    screen = screen_for(rulebook.terminology)
    for _, data, _, _ in SAMPLE_INPUTS:
        fhir.read_bytes(data, screen=screen)  # the screen learns the samples' codes
    known = screen.known_irrelevant
    dismissed = kept = 0
    for _, data, _, _ in SAMPLE_INPUTS:
        document = simdjson.Parser().parse(data)
        for node in resources_of(document):
            resource_type = node["resourceType"]
            rule = known.get(resource_type)
            if rule is None:
                continue
            subject = fhir._member(fhir._member(node, "subject"), "reference")
            reference = f"{resource_type}/{fhir._member(node, 'id')}"
            for own in (None, subject if isinstance(subject, str) else None, "Patient/someone-else"):
                for drafts in (set(), {reference}, {"MedicationRequest/elsewhere"}):
                    answer = both(node, rule, own, drafts, resource_type)
                    dismissed, kept = dismissed + answer, kept + (not answer)
    # Both answers are exercised, the dismissal thousands of times.
    assert dismissed > 1000 and kept > 1000


def test_other_shapes_are_left_to_python(rulebook: Rulebook) -> None:
    node = simdjson.Parser().parse(b'{"code": "plain text", "status": "final"}')
    rule = KnownIrrelevant("code", {b'"plain text"'})
    assert _learnt.known_irrelevant(node, rule, None, set(), "Observation") is None
    assert fhir._known_irrelevant(node, rule, None, set(), "Observation") is True
    as_dict = {"code": {"text": "x"}}  # a resource read from already parsed JSON
    assert (
        _learnt.known_irrelevant(as_dict, KnownIrrelevant("code", {b'{"text":"x"}'}), None, set(), "X")
        is None
    )
    # A reference with no UTF-8 (a lone surrogate, which only Python's json module lets through).
    coded = simdjson.Parser().parse(b'{"code": {"text": "x"}, "subject": {"reference": "Patient/p1"}}')
    learnt = KnownIrrelevant("code", {b'{"text":"x"}'})
    assert _learnt.known_irrelevant(coded, learnt, "Patient/\ud800", set(), "Condition") is None
    assert fhir._known_irrelevant(coded, learnt, "Patient/\ud800", set(), "Condition") is False
    with pytest.raises(TypeError):
        _learnt.known_irrelevant(node, rule)  # type: ignore[call-arg]


NAMES = ["code", "status", "subject", "id", "medicationCodeableConcept", "medicationReference", "medication"]
SCALARS = st.one_of(
    st.sampled_from(["draft", "active", "", "Patient/p1", "m1", "p\u00e9\u0000"]),
    st.integers(-3, 3),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(
            st.sampled_from(["reference", "coding", "text", "code", "system"]), inner, max_size=3
        ),
    ),
    max_leaves=8,
)
ABSENT = object()


def member(name: str, *values: Any) -> st.SearchStrategy[list[tuple[str, Any]]]:
    """The member `name` with one of `values` (a strategy among them), or no such member (ABSENT)."""
    choices = [v if isinstance(v, st.SearchStrategy) else st.just(v) for v in values]
    return st.one_of(*choices).map(lambda value: [] if value is ABSENT else [(name, value)])


# Near a real resource, so that every check decides some examples: the learnt concept, then each
# member that can keep the resource, then any other members (names repeated, elements named elsewhere).
RESOURCES = st.tuples(
    member("code", {"coding": [{"code": "1"}]}, [{"code": "1"}], VALUES),
    member("status", ABSENT, "active", "draft", VALUES),
    member("subject", ABSENT, {"reference": "Patient/p1"}, {"reference": "Patient/p2"}, VALUES),
    member("id", ABSENT, "m1", "m2", "", VALUES),
    st.lists(st.tuples(st.sampled_from(NAMES), VALUES), max_size=2),
).flatmap(lambda parts: st.permutations([m for part in parts for m in part]))


def object_text(members: list[tuple[str, Any]]) -> bytes:
    """A JSON object with these members in this order, a name repeated if it is (dicts cannot hold that)."""
    return (
        b"{"
        + b",".join(orjson.dumps(name) + b":" + json.dumps(value).encode() for name, value in members)
        + b"}"
    )


@settings(max_examples=3000, deadline=None, database=None)
@given(
    members=RESOURCES,
    learnt=st.booleans(),
    unless_contains=st.sampled_from([None, b"coding", b"zz"]),
    unless_has=st.sampled_from([(), ("medicationReference", "medication")]),
    own=st.sampled_from([None, "Patient/p1", "Patient/p\u00e9"]),
    drafts=st.sampled_from([set(), {"MedicationRequest/m1"}, {"Condition/m1"}]),
    resource_type=st.sampled_from(["MedicationRequest", "Condition"]),
)
def test_any_object_gets_the_python_answer(
    members: list[tuple[str, Any]],
    learnt: bool,
    unless_contains: bytes | None,
    unless_has: tuple[str, ...],
    own: str | None,
    drafts: set[str],
    resource_type: str,
) -> None:
    node: Any = simdjson.Parser().parse(object_text(members))
    keys: set[bytes] = set()
    if learnt and "code" in node and isinstance(node["code"], simdjson.Object | simdjson.Array):
        keys.add(fhir._minified(node["code"]))
    answer = both(
        node, KnownIrrelevant("code", keys, unless_contains, unless_has), own, drafts, resource_type
    )
    event(f"dismissed: {answer}")


def read_either_way(data: bytes, screen: Any) -> tuple[Any, ...]:
    """What reading `data` gives (kept resources, counts, or the error), with the first look and
    without it; asserted equal."""

    def outcome() -> tuple[Any, ...]:
        try:
            read = fhir.read_bytes(data, screen=screen)
        except InputFormatError as exc:
            return ("error", str(exc))
        kept = [(r.resource_type, r.element("id"), r.full_url) for r in read.resources]
        return (kept, read.skipped, read.screened, sorted(read.draft_refs))

    native = fhir._screen_entries
    try:
        fhir._screen_entries = fhir._no_first_look
        python = outcome()
    finally:
        fhir._screen_entries = native
    assert outcome() == python
    return python


# Entries near a real record, so that every branch of the first look decides some examples: no
# resource, a null or non-object resource, no or a non-string resourceType, types skipped, types read,
# concepts learnt or not, drafts, this patient's and another's.
ENTRY_TYPES = ["MedicationRequest", "Condition", "Observation", "Procedure", "Patient", "Encounter", "Claim"]


@st.composite
def record_entries(draw: st.DrawFn, learnt: dict[str, list[Any]]) -> list[Any]:
    entries: list[Any] = []
    for _ in range(draw(st.integers(0, 10))):
        # An error anywhere fails the whole record: those shapes are rarer, so that most records read.
        shape = draw(
            st.sampled_from(
                ["resource"] * 30 + ["empty"] * 3 + ["null"] * 3 + ["scalar", "untyped", "not-object"]
            )
        )
        if shape == "empty":
            entries.append(draw(st.sampled_from([{}, {"fullUrl": "urn:x"}, {"search": {"mode": "match"}}])))
            continue
        if shape in ("null", "scalar"):
            entries.append({"resource": None} if shape == "null" else draw(SCALARS))
            continue
        if shape == "not-object":
            entries.append({"resource": draw(st.one_of(SCALARS, st.lists(SCALARS, max_size=2)))})
            continue
        resource_type = draw(st.sampled_from(ENTRY_TYPES))
        resource: dict[str, Any] = {"resourceType": resource_type}
        if shape == "untyped":
            resource["resourceType"] = draw(st.sampled_from([None, 3, ["Condition"]]))
        element = "medicationCodeableConcept" if resource_type == "MedicationRequest" else "code"
        concepts = learnt.get(resource_type) or [{"text": "x"}]
        resource[element] = draw(st.one_of(st.sampled_from(concepts), VALUES))
        for name, values in (
            ("id", ["m1", "m2", "", 7]),
            ("status", ["active", "draft", "completed"]),
            ("subject", [{"reference": "Patient/p1"}, {"reference": "Patient/p2"}, {}]),
            ("medicationReference", [{"reference": "Medication/x"}]),
        ):
            if draw(st.booleans()):
                resource[name] = draw(st.sampled_from(values))
        entry: dict[str, Any] = {"resource": resource}
        if draw(st.booleans()):
            entry["fullUrl"] = f"urn:uuid:{len(entries)}"
        entries.append(entry)
    return entries


@settings(max_examples=1500, deadline=None, database=None)
@given(data=st.data(), as_request=st.booleans(), drafted=st.booleans())
def test_a_record_reads_alike_with_the_first_look_and_without(
    learnt_screen: tuple[Any, dict[str, list[Any]]], data: st.DataObject, as_request: bool, drafted: bool
) -> None:
    """`screen_entries` only takes over the reader's first lines: every record reads to the same
    resources, counts and errors with it and without it."""
    screen, learnt = learnt_screen
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": data.draw(record_entries(learnt))}
    if as_request:
        draft = {
            "resourceType": "MedicationRequest",
            "id": "m1",
            "status": "draft",
            "subject": {"reference": "Patient/p1"},
        }
        document: dict[str, Any] = {
            "hook": "order-sign" if drafted else "patient-view",
            "hookInstance": "h",
            "context": {"patientId": "p1", "userId": "Practitioner/u"},
            "prefetch": {"conditions": bundle},
        }
        if drafted:
            document["context"]["draftOrders"] = {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [{"resource": draft}],
            }
    else:
        document = bundle
    outcome = read_either_way(orjson.dumps(document), screen)
    event(outcome[0] if outcome[0] == "error" else f"kept {len(outcome[0])}, screened {bool(outcome[2])}")


@pytest.fixture(scope="module")
def learnt_screen(rulebook: Rulebook) -> tuple[Any, dict[str, list[Any]]]:
    """A screen that has read the samples, so that it knows many concepts, and some of those concepts
    by resource type (taken once: the screen goes on learning as the test reads, and the examples
    must be drawn from the same lists every time)."""
    screen = screen_for(rulebook.terminology)
    for _, data, _, _ in SAMPLE_INPUTS:
        fhir.read_bytes(data, screen=screen)
    learnt = {
        resource_type: [orjson.loads(key) for key in sorted(rule.keys)[:40]]
        for resource_type, rule in screen.known_irrelevant.items()
    }
    return screen, learnt


def test_the_first_look_leaves_other_shapes_to_python() -> None:
    document: Any = simdjson.Parser().parse(b'{"entry": [{"resource": {"resourceType": "Claim"}}]}')
    entries = document["entry"]
    assert _learnt.screen_entries(entries, {}, {"Condition"}, None, set()) == (b"\x00", {"Claim": 1}, 0)
    assert _learnt.screen_entries([{}], {}, {"Condition"}, None, set()) is None  # not a simdjson Array
    not_a_dict: Mapping[str, KnownIrrelevant] = MappingProxyType({})
    assert _learnt.screen_entries(entries, not_a_dict, {"Condition"}, None, set()) is None
    assert _learnt.screen_entries(entries, {}, {"Condition"}, "Patient/\ud800", set()) is None
    assert _learnt.screen_entries(entries, {}, {"Condition"}, None, {"Condition/\ud800"}) is None
    with pytest.raises(TypeError):
        _learnt.screen_entries(entries, {})  # type: ignore[call-arg]


def test_entries_with_no_resource_are_read_past_as_before(rulebook: Rulebook) -> None:
    """A Bundle padded with entries that hold no resource (hostile input: `{}` is 3 bytes that cost
    pysimdjson an exception) reads as the same Bundle without them, with the C++ first look and with
    the Python reader's own."""
    screen = screen_for(rulebook.terminology)

    def summary(read: fhir.FhirInput) -> tuple[Any, ...]:
        return ([r.reference() for r in read.resources], read.skipped, read.screened)

    request = next(data for name, data, _, _ in SAMPLE_INPUTS if name.startswith("mdr1-"))
    bundle = next(data for name, data, _, _ in SAMPLE_INPUTS if name.endswith(".json"))
    for data in (request, bundle):
        document = json.loads(data)
        bundles = [document] if document.get("resourceType") == "Bundle" else document["prefetch"].values()
        padded_entries = 0
        for value in bundles:
            if isinstance(value, dict) and value.get("resourceType") == "Bundle":
                entries = value.get("entry") or []
                value["entry"] = [{}, *[x for entry in entries for x in (entry, {"fullUrl": "urn:x"})], {}]
                padded_entries += len(value["entry"])
        padded = orjson.dumps(document)
        expected = summary(fhir.read_bytes(data, screen=screen))
        assert expected[0] and padded_entries > 2 * len(expected[0])
        assert summary(fhir.read_bytes(padded, screen=screen)) == expected
        native = fhir._screen_entries
        try:
            fhir._screen_entries = fhir._no_first_look
            assert summary(fhir.read_bytes(padded, screen=screen)) == expected
        finally:
            fhir._screen_entries = native


@settings(max_examples=1000, deadline=None)
@given(members=st.lists(st.tuples(st.sampled_from([*NAMES, "resourceType", "\u00e9"]), SCALARS), max_size=6))
def test_a_missing_member_is_the_one_pysimdjson_lacks(members: list[tuple[str, Any]]) -> None:
    """`lacks` answers as pysimdjson's membership does, for every name, members repeated included."""
    text = "{" + ",".join(f"{json.dumps(name)}:{json.dumps(value)}" for name, value in members) + "}"
    node: Any = simdjson.Parser().parse(text.encode())
    for name in [*NAMES, "resourceType", "\u00e9", "resource"]:
        assert _learnt.lacks(node, name) is (name not in node)
    assert _learnt.lacks({"code": 1}, "code") is None  # not a simdjson Object: Python asks
    assert _learnt.lacks(node, "code\ud800") is None  # a name with no UTF-8


def test_resources_without_their_usual_elements_are_read_as_before(rulebook: Rulebook) -> None:
    """Resources that lack the elements nearly every resource has (hostile or sparse JSON) read alike
    with the C++ member check and without it."""
    screen = screen_for(rulebook.terminology)
    request = json.loads(next(data for name, data, _, _ in SAMPLE_INPUTS if name.startswith("mdr1-")))
    sparse = [
        {"resourceType": "Observation"},
        {"resourceType": "Condition", "subject": {}},
        {"resourceType": "MedicationRequest", "status": "active"},
        {"resourceType": "MedicationRequest", "id": "m1", "subject": {"display": "x"}},
        {"resourceType": "Observation", "id": "o1", "code": {"text": "x"}},
    ]
    request["prefetch"]["observations"]["entry"] = [{"resource": r} for r in sparse]
    data = orjson.dumps(request)

    def summary(read: fhir.FhirInput) -> tuple[Any, ...]:
        return ([r.reference() for r in read.resources], read.skipped, read.screened)

    expected = summary(fhir.read_bytes(data, screen=screen))
    native = fhir._lacks
    try:
        fhir._lacks = fhir._not_known_to_lack
        assert summary(fhir.read_bytes(data, screen=screen)) == expected
        assert summary(fhir.read_bytes(data, screen=screen)) == expected  # the screen has learnt
    finally:
        fhir._lacks = native
    assert summary(fhir.read_bytes(data, screen=screen)) == expected
