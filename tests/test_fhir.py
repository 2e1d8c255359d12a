from __future__ import annotations

import orjson
import pytest

from conftest import bundle, hook_request, medication_request
from mdrcds.errors import FhirValidationError, InputFormatError
from mdrcds.reading.fhir import read_bytes, read_input, validator


def both_readers(document: object) -> list[object]:
    """The same document read by the parsed and the raw-bytes path."""
    return [read_input(document), read_bytes(orjson.dumps(document))]


def test_hook_request_collects_prefetch_and_drafts() -> None:
    request = hook_request(
        "order-select",
        drafts=[medication_request("d1", "draft", code="1547545")],
        selections=["MedicationRequest/d1"],
        prefetch=[medication_request("m1", "active", code="11170")],
    )
    for fhir_input in both_readers(request):
        assert fhir_input.hook == "order-select"  # type: ignore[attr-defined]
        refs = [fhir_input.reference_of(r) for r in fhir_input.resources]  # type: ignore[attr-defined]
        assert refs == ["MedicationRequest/d1", "Patient/p1", "MedicationRequest/m1"]
        assert fhir_input.draft_refs == {"MedicationRequest/d1"}  # type: ignore[attr-defined]
        assert fhir_input.selection_refs == ["MedicationRequest/d1"]  # type: ignore[attr-defined]


def test_other_resource_types_are_counted_not_kept() -> None:
    document = bundle(
        [{"resourceType": "Claim", "id": "c"}, {"resourceType": "Patient", "id": "p1"}], "collection"
    )
    for fhir_input in both_readers(document):
        assert [r.resource_type for r in fhir_input.resources] == ["Patient"]  # type: ignore[attr-defined]
        assert fhir_input.skipped == {"Claim": 1}  # type: ignore[attr-defined]


def test_null_and_operation_outcome_prefetch_values() -> None:
    request = hook_request("patient-view")
    request["prefetch"]["conditions"] = None
    request["prefetch"]["observations"] = {"resourceType": "OperationOutcome", "issue": []}
    for fhir_input in both_readers(request):
        assert fhir_input.operation_outcomes == ["prefetch.observations"]  # type: ignore[attr-defined]
        assert "conditions" in fhir_input.prefetch_keys  # type: ignore[attr-defined]


def test_resource_with_contained_resource_before_its_type_is_read_correctly() -> None:
    # A writer may put 'contained' before 'resourceType'; the raw reader must not take the inner type.
    raw = (
        b'{"resourceType":"Bundle","type":"collection","entry":[{"resource":'
        b'{"contained":[{"resourceType":"Medication","id":"m"}],"resourceType":"MedicationRequest","id":"r",'
        b'"status":"active","intent":"order","subject":{"reference":"Patient/p"},'
        b'"medicationReference":{"reference":"#m"}}}]}'
    )
    fhir_input = read_bytes(raw)
    assert [r.resource_type for r in fhir_input.resources] == ["MedicationRequest"]


def test_single_resource_and_bundle_drafts_for_order_hooks() -> None:
    draft = medication_request("d1", "draft", code="72962")
    fhir_input = read_bytes(orjson.dumps(bundle([draft], "collection")), default_hook="order-sign")
    assert fhir_input.draft_refs == {"MedicationRequest/d1"}
    single = read_bytes(orjson.dumps(draft))
    assert single.hook == "patient-view" and len(single.resources) == 1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "not a CDS Hooks request or FHIR resource"),
        (b'{"hook": "encounter-start", "context": {}}', "unknown hook 'encounter-start'"),
        (
            b'{"hook": "order-select", "context": {"selections": []}}',
            "context.draftOrders must be a FHIR Bundle",
        ),
        (b'{"hook": "patient-view", "context": "x"}', "context must be a JSON object"),
        (b'{"foo": 1}', "neither a CDS Hooks request"),
        (b'{"resourceType": "Bundle", "type": "document", "entry": []}', "unsupported type 'document'"),
    ],
)
def test_unusable_input_names_the_problem(data: bytes, message: str) -> None:
    with pytest.raises(InputFormatError, match=message):
        read_bytes(data, source="x.json")
    if data.startswith(b"{") and b"not json" not in data:
        with pytest.raises(InputFormatError, match=message.split(" (")[0]):
            read_input(orjson.loads(data), source="x.json")


CLAIM = b'{"resourceType": "Claim", "id": "c", "total": {"value": %s}}'


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            b'{"resourceType": "Bundle", "type": "collection", "entry": [{"resource": %s}]}'
            % (CLAIM % b"1e400"),
            "a number out of range",
        ),
        (
            b'{"resourceType": "Bundle", "type": "collection", "entry": [{"resource": %s}]}'
            % (CLAIM % (b"1" * 30)),
            "an integer out of range",
        ),
        (b"[" * 5000 + b"]" * 5000, "nested too deeply"),
        (b'{"resourceType": "Patient", "name": "\xff"}', "invalid UTF-8"),
        (b'{"resourceType": "Patient"} {"resourceType": "Patient"}', "not valid JSON"),
        (b"", "not valid JSON"),
        (
            b'{"resourceType": "Bundle", "type": "collection", "entry": {"resource": {}}}',
            "entry must be an array",
        ),
        (b'{"resourceType": "Bundle", "type": "collection", "entry": [5]}', r"entry\[0\] must be an object"),
        (
            b'{"resourceType": "Bundle", "type": "collection", "entry": [{"resource": 5}]}',
            "has no resourceType",
        ),
        (b'{"hook": "patient-view", "context": {}, "prefetch": [1]}', "prefetch must be a JSON object"),
        (
            b'{"hook": "patient-view", "context": {}, "prefetch": {"p": "x"}}',
            "must be a FHIR resource, a Bundle or null",
        ),
    ],
)
def test_bytes_the_parser_refuses_are_named(data: bytes, message: str) -> None:
    # Anywhere in the record, skipped resource types included: the whole input is one parse.
    with pytest.raises(InputFormatError, match=message):
        read_bytes(data, source="x.json")


def test_the_first_resource_type_key_decides_what_is_read() -> None:
    # A duplicated key: the type used to skip or keep a resource is the first, as a streaming reader
    # sees it; the resource is then never converted, so no second reading can disagree with it.
    twice = b'{"resourceType": "Claim", "id": "c", "resourceType": "MedicationRequest"}'
    data = b'{"resourceType": "Bundle", "type": "collection", "entry": [{"resource": %s}]}' % twice
    fhir_input = read_bytes(data)
    assert fhir_input.resources == [] and fhir_input.skipped == {"Claim": 1}


def test_validation_error_names_type_id_and_path() -> None:
    bad = medication_request("m1", "active", code="11170", authoredOn="2026-13-45")
    with pytest.raises(FhirValidationError) as raised:
        validator("R4")(bad)
    assert (raised.value.resource_type, raised.value.resource_id, raised.value.path) == (
        "MedicationRequest",
        "m1",
        "authoredOn",
    )
    assert "MedicationRequest/m1 at authoredOn" in str(raised.value)


def test_nested_validation_path_and_r5_models() -> None:
    bad = medication_request("m2", "active", code="11170")
    bad["dosageInstruction"] = [{"doseAndRate": [{"doseQuantity": {"value": "ten"}}]}]
    with pytest.raises(
        FhirValidationError, match=r"dosageInstruction\[0\]\.doseAndRate\[0\]\.doseQuantity\.value"
    ):
        validator("R4")(bad)
    r5 = {
        "resourceType": "MedicationRequest",
        "id": "r5",
        "status": "active",
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "medication": {"concept": {"text": "verapamil"}},
    }
    validator("R5")(r5)
    with pytest.raises(FhirValidationError):  # found valid as R5 just now: remembered per model package
        validator("R4")(r5)


def test_references_without_ids_use_full_url_or_position() -> None:
    document = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"fullUrl": "urn:uuid:1", "resource": {"resourceType": "Condition"}},
            {"resource": {"resourceType": "Procedure"}},
            {"resource": {"resourceType": "Observation", "id": "o1"}},
        ],
    }
    for fhir_input in both_readers(document):
        refs = [fhir_input.reference_of(r) for r in fhir_input.resources]  # type: ignore[attr-defined]
        assert refs == ["urn:uuid:1", "Procedure/#1", "Observation/o1"]


def test_entries_without_a_resource_are_passed_over_and_full_urls_kept() -> None:
    data = (
        b'{"resourceType": "Bundle", "type": "transaction", "entry": [{"fullUrl": "urn:uuid:0"},'
        b' {"resource": null}, {"resource": {"resourceType": "Patient", "id": "p"}, "fullUrl": "urn:uuid:1"},'
        b' {"resource": {"resourceType": "Patient"}}]}'
    )
    fhir_input = read_bytes(data)
    assert [(r.reference(), r.full_url) for r in fhir_input.resources] == [
        ("Patient/p", "urn:uuid:1"),
        ("Patient/#1", None),
    ]


def test_a_document_still_in_use_stays_valid_while_others_are_read() -> None:
    # The reader reuses its parser only when nothing points into the previous document.
    first = read_bytes(orjson.dumps(medication_request("m1", "active", code="11170")))
    with pytest.raises(InputFormatError):
        read_bytes(b'{"resourceType": "Patient", "id": ')  # a failed parse between the two
    second = read_bytes(orjson.dumps(medication_request("m2", "active", code="11170")))
    released = read_bytes(orjson.dumps(medication_request("m3", "active", code="11170")))
    released.release()
    del released
    third = read_bytes(orjson.dumps(medication_request("m4", "active", code="11170")))
    assert [r.element("id") for r in (*first.resources, *second.resources, *third.resources)] == [
        "m1",
        "m2",
        "m4",
    ]
    assert first.resources[0].json["medicationCodeableConcept"]["coding"][0]["code"] == "11170"
