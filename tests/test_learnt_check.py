"""The reader's learnt-code check in C++ (mdrcds.reading._learnt) answers as the Python check does.

The reader dismisses most of a large record by one question: does this resource name a code the screen
has learnt classifies to nothing, and does nothing else keep it (a draft, another patient's subject, a
Medication named elsewhere, a member named twice)? `mdrcds.reading._learnt` asks it of simdjson's
parsed document; `mdrcds.reading.fhir._known_irrelevant` asks it in Python. Both must give the same
answer for every resource of the samples and for any object of the shapes below, hostile ones included
(duplicate members, members of the wrong type)."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
import simdjson
from hypothesis import event, given, settings
from hypothesis import strategies as st

from mdrcds.facts.screen import screen_for
from mdrcds.knowledge.rulebook import Rulebook
from mdrcds.reading import _learnt, fhir
from mdrcds.reading.fhir import KnownIrrelevant
from test_screen import SAMPLE_INPUTS


def test_the_reader_uses_the_built_check() -> None:
    # The build compiled it and its check of pysimdjson's object and array layouts passed on import.
    assert fhir._learnt_check is _learnt.known_irrelevant
    assert fhir._resourceless is _learnt.resourceless
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


ENTRIES = st.lists(
    st.one_of(
        st.dictionaries(st.sampled_from(["resource", "fullUrl", "search", "request"]), VALUES, max_size=3),
        SCALARS,
        st.lists(SCALARS, max_size=2),
    ),
    max_size=12,
)


@settings(max_examples=1000, deadline=None)
@given(entries=ENTRIES)
def test_entries_without_a_resource_are_the_ones_python_finds(entries: list[Any]) -> None:
    """`resourceless` marks exactly the object entries that pysimdjson has no `resource` for."""
    document: Any = simdjson.Parser().parse(orjson.dumps({"entry": entries}))
    parsed = document["entry"]
    python = [isinstance(entry, simdjson.Object) and "resource" not in entry for entry in parsed]
    gaps = _learnt.resourceless(parsed)
    event("some without a resource" if any(python) else "every one with a resource")
    if gaps is None:
        assert not any(python)
    else:
        assert [bool(flag) for flag in gaps] == python


def test_entries_with_no_resource_are_read_past_as_before(rulebook: Rulebook) -> None:
    """A Bundle padded with entries that hold no resource (hostile input: `{}` is 3 bytes that cost
    pysimdjson an exception) reads as the same Bundle without them, with the C++ entry check and with
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
        native = fhir._resourceless
        try:
            fhir._resourceless = fhir._no_gaps_known
            assert summary(fhir.read_bytes(padded, screen=screen)) == expected
        finally:
            fhir._resourceless = native


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
