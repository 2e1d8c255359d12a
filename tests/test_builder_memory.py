"""What the fact builder works out once per distinct drug concept (its value sets, its route per dosage)
changes no fact: every sample input gives the same facts as a builder that remembers nothing, records
that share a concept but not a dosage, or that name a Medication resource, keep their own route, and a
record whose JSON names a member twice is refused, not read one way by the screen and another by the
builder."""

from __future__ import annotations

from datetime import date
from typing import Any

import orjson
import pytest

from conftest import NOW, RXNORM, bundle, medication_request
from mdrcds.errors import InputFormatError
from mdrcds.facts import builder
from mdrcds.facts.builder import extract_facts
from mdrcds.facts.model import Fact
from mdrcds.facts.screen import screen_for
from mdrcds.knowledge.rulebook import Rulebook
from mdrcds.reading.fhir import read_bytes, read_input, validator
from test_screen import SAMPLE_INPUTS

SNOMED = "http://snomed.info/sct"
OPHTHALMIC = {"coding": [{"system": SNOMED, "code": "54485002"}]}
ORAL = {"coding": [{"system": SNOMED, "code": "26643006"}]}


def facts_of(rulebook: Rulebook, data: bytes, now: date = NOW, *, raw: bool = True) -> list[Fact]:
    # Raw bytes are read as the service and `mdrcds evaluate` read them: with the screen.
    screen = screen_for(rulebook.terminology)
    fhir_input = read_bytes(data, screen=screen) if raw else read_input(orjson.loads(data))
    return extract_facts(fhir_input, rulebook.terminology, now, validator("R4")).facts


class _Forgets(dict[Any, Any]):
    """A memory that keeps nothing."""

    def __setitem__(self, key: Any, value: Any) -> None:
        return None


class _ForgetfulBuilder(builder._Builder):
    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._named = _Forgets()
        self._routes = _Forgets()


def outcome(rulebook: Rulebook, data: bytes, now: date, *, raw: bool = True) -> list[Fact] | type:
    try:
        return facts_of(rulebook, data, now, raw=raw)
    except Exception as exc:  # a golden case of invalid input: refused alike, or the test fails
        return type(exc)


@pytest.mark.parametrize(
    ("name", "data", "now"),
    [(name, data, now) for name, data, now, version in SAMPLE_INPUTS if version == "R4"],
    ids=[name for name, _, _, version in SAMPLE_INPUTS if version == "R4"],
)
def test_remembering_by_concept_changes_no_fact(
    rulebook: Rulebook, monkeypatch: pytest.MonkeyPatch, name: str, data: bytes, now: date
) -> None:
    remembering = outcome(rulebook, data, now)
    assert outcome(rulebook, data, now, raw=False) == remembering
    monkeypatch.setattr(builder, "_Builder", _ForgetfulBuilder)
    assert outcome(rulebook, data, now) == remembering


def cyclosporine(resource_id: str, **extra: Any) -> dict[str, Any]:
    # cycloSPORINE is a P-gp inhibitor: route decides whether its fact is systemic.
    return medication_request(resource_id, "active", text="cycloSPORINE 100 MG", **extra)


def systemic_by_source(rulebook: Rulebook, resources: list[dict[str, Any]]) -> dict[str, bool]:
    facts = facts_of(rulebook, orjson.dumps(bundle(resources)), raw=True)
    return {
        fact.source: bool(fact.attributes["systemic"]) for fact in facts if fact.value_set == "pgp-inhibitor"
    }


def test_one_concept_with_two_dosages_keeps_two_routes(rulebook: Rulebook) -> None:
    resources = [
        cyclosporine("oral-1", dosageInstruction=[{"route": ORAL}]),
        cyclosporine("eye-1", dosageInstruction=[{"route": OPHTHALMIC}]),
        cyclosporine("oral-2", dosageInstruction=[{"route": ORAL}]),
        cyclosporine("eye-2", dosageInstruction=[{"text": "1 drop in each eye at night"}]),
    ]
    assert systemic_by_source(rulebook, resources) == {
        "MedicationRequest/oral-1": True,
        "MedicationRequest/eye-1": False,
        "MedicationRequest/oral-2": True,
        "MedicationRequest/eye-2": False,
    }


def test_a_record_naming_a_medication_resource_is_worked_out_on_its_own(rulebook: Rulebook) -> None:
    drops = {
        "resourceType": "Medication",
        "id": "drops",
        "code": {"text": "cycloSPORINE 100 MG"},
        "form": {"text": "Ophthalmic emulsion"},
    }
    # the same drug, named through a Medication whose dose form is ophthalmic
    resolved = cyclosporine("resolved-1", medicationReference={"reference": "Medication/drops"})
    del resolved["medicationCodeableConcept"]
    resources = [
        cyclosporine("named-1"),
        resolved,
        drops,
        cyclosporine("named-2"),
    ]
    assert systemic_by_source(rulebook, resources) == {
        "MedicationRequest/named-1": True,
        "MedicationRequest/resolved-1": False,
        "MedicationRequest/named-2": True,
    }


def test_a_coded_concept_is_remembered_apart_from_its_text(rulebook: Rulebook) -> None:
    # RxNorm 11170 is verapamil (shared/knowledge/codes.csv); the same text with no code is not it.
    coded = medication_request("coded", "active", code="11170", display="verapamil", text="heart pill")
    plain = medication_request("plain", "active", text="heart pill")
    facts = facts_of(rulebook, orjson.dumps(bundle([coded, plain, dict(coded, id="coded-2")])), raw=True)
    assert sorted(f.source for f in facts if f.member == "verapamil") == [
        "MedicationRequest/coded",
        "MedicationRequest/coded-2",
    ]


def test_a_record_naming_its_concept_twice_is_refused_whatever_the_order(rulebook: Rulebook) -> None:
    # JSON that names medicationCodeableConcept twice: the raw node answers with the first, the
    # converted resource with the last, so neither may decide whether this is verapamil. Refused with
    # its place named, on a first reading (the screen's path) and once the screen has learnt the other
    # drug's concept (the reader's fast path), and whichever drug comes first.
    verapamil = b'{"coding": [{"system": "%s", "code": "11170", "display": "verapamil"}]}' % RXNORM.encode()
    acetaminophen = b'{"text": "acetaminophen 500 mg oral tablet"}'
    twice = (
        b'{"resourceType": "MedicationRequest", "id": "twice", "status": "active", "intent": "order",'
        b' "subject": {"reference": "Patient/p1"}, "authoredOn": "2026-10-01",'
        b' "medicationCodeableConcept": %s, "medicationCodeableConcept": %s}'
    )
    plain = orjson.dumps(medication_request("plain", "active", text="acetaminophen 500 mg oral tablet"))
    for first, last in ((verapamil, acetaminophen), (acetaminophen, verapamil)):
        data = (
            b'{"resourceType": "Bundle", "type": "collection", "entry": [{"resource": %s}, {"resource": %s}]}'
            % (
                plain,
                twice % (first, last),
            )
        )
        for _ in range(2):
            with pytest.raises(InputFormatError, match=r"entry\[1\].*'medicationCodeableConcept' twice"):
                facts_of(rulebook, data)


def test_a_record_naming_another_member_twice_is_refused_too(rulebook: Rulebook) -> None:
    twice = (
        b'{"resourceType": "MedicationRequest", "id": "t", "status": "active", "status": "stopped",'
        b' "intent": "order", "subject": {"reference": "Patient/p1"},'
        b' "medicationCodeableConcept": {"text": "acetaminophen 500 mg oral tablet"}}'
    )
    data = b'{"resourceType": "Bundle", "type": "collection", "entry": [{"resource": %s}]}' % twice
    for _ in range(2):
        with pytest.raises(InputFormatError, match="'status' twice"):
            facts_of(rulebook, data)
