"""The alpha filter (mdrcds.reasoning.alphafilter): a fact is kept from the engine only when the engine
itself would not take it.

The oracle is durable-rules: each fact is asserted alone into a session of a real engine, and "handled"
must imply that the filter lets it through, for every fact of every sample input and for generated
facts built from the patterns' own vocabulary with near misses (other case, other type, missing
fields). The filter must also actually drop facts, or it buys nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mdrcds.facts.builder import extract_facts
from mdrcds.facts.screen import screen_for
from mdrcds.knowledge.rulebook import Rulebook
from mdrcds.knowledge.ruleschema import ENGINE_FIELDS
from mdrcds.reading.fhir import read_bytes, validator
from mdrcds.reasoning.alphafilter import AlphaFilter
from mdrcds.reasoning.engine import Engine
from test_screen import SAMPLE_INPUTS


class Oracle:
    """The real engine asked about one fact at a time (asserted, then retracted)."""

    def __init__(self, rulebook: Rulebook) -> None:
        self.engine = Engine(rulebook)
        self.count = 0

    def handles(self, fields: dict[str, Any]) -> bool:
        self.count += 1
        fact = {**fields, "id": f"oracle-{self.count}", "sid": "oracle"}
        # The adapter's own assert: True when some pattern took the fact (see Engine._assert).
        handled = self.engine._assert(fact)
        if handled:
            self.engine._host.retract_fact("mdrcds", fact)
        return handled


@pytest.fixture(scope="module")
def oracle(rulebook: Rulebook) -> Oracle:
    return Oracle(rulebook)


def sample_facts(rulebook: Rulebook) -> Iterator[tuple[str, dict[str, Any]]]:
    screen = screen_for(rulebook.terminology)
    for name, data, now, version in SAMPLE_INPUTS:
        fhir_input = read_bytes(data, screen=screen)
        try:
            facts = extract_facts(
                fhir_input, rulebook.terminology, now, validator("R5" if version == "R5" else "R4")
            )
        except Exception:  # a golden case about invalid input: no facts to ask about
            continue
        for fact in facts.facts:
            yield name, fact.engine_fields()


def test_every_sample_fact_the_engine_takes_passes_the_filter(rulebook: Rulebook, oracle: Oracle) -> None:
    alpha = AlphaFilter.of_rules(rulebook.rules)
    taken = dropped = 0
    for name, fields in sample_facts(rulebook):
        handled = oracle.handles(fields)
        passes = alpha.may_accept(fields)
        assert passes or not handled, f"{name}: the filter dropped a fact the engine takes: {fields}"
        taken += handled
        dropped += not passes
    # The samples hold both kinds, and the filter drops hundreds (the chemotherapy record's past orders).
    assert taken > 50 and dropped > 300


def _vocabulary(rulebook: Rulebook) -> dict[str, list[Any]]:
    """Per field, every constant a pattern tests it with, and near misses of each."""
    values: dict[str, list[Any]] = {name: [] for name in ENGINE_FIELDS}
    for rule in rulebook.rules:
        for pattern in rule.when.all.values():
            for name, constraint in pattern.items():
                constants = (
                    list(constraint.values())
                    if isinstance(constraint, dict)
                    else constraint
                    if isinstance(constraint, list)
                    else [constraint]
                )
                for value in constants:
                    values.setdefault(name, []).append(value)
                    if isinstance(value, str):
                        values[name] += [value.upper(), value + " ", "x" + value]
                    elif isinstance(value, bool):
                        values[name] += [int(value), str(value).lower()]
                    elif isinstance(value, int | float):
                        values[name] += [value - 1, value + 0.5, float(value), str(value)]
    for name in ENGINE_FIELDS:
        values[name] += [True, False, 0, 2.5, "", "other"] if not values[name] else [False, "other"]
    return values


_SATISFYING = {">=": (0, 1), ">": (1, 2), "<=": (0, -1), "<": (-1, -0.5), "!=": (1, -1)}


def _satisfying(constraint: Any) -> list[Any]:
    """Values that pass a constraint."""
    if isinstance(constraint, list):
        return list(constraint)
    if isinstance(constraint, dict):
        # one value passing every comparison of the constraint is not always there: offer each's own
        return [value + shift for op, value in constraint.items() for shift in _SATISFYING[op]]
    return [constraint]


@st.composite
def generated_fields(draw: st.DrawFn, rulebook: Rulebook, vocabulary: dict[str, list[Any]]) -> dict[str, Any]:
    """Mostly a fact one pattern accepts, with some of its tests missed narrowly, and other fields."""
    patterns = [pattern for rule in rulebook.rules for pattern in rule.when.all.values()]
    pattern = draw(st.sampled_from(patterns))
    fields: dict[str, Any] = {}
    for name, constraint in sorted(pattern.items()):
        way = draw(st.sampled_from(["pass"] * 6 + ["miss", "omit"]))
        if way == "pass":
            fields[name] = draw(st.sampled_from(_satisfying(constraint)))
        elif way == "miss":
            fields[name] = draw(st.sampled_from(vocabulary[name]))
    for name in sorted(set(vocabulary) - set(pattern)):
        if draw(st.integers(0, 4)) == 0:
            fields[name] = draw(st.sampled_from(vocabulary[name]))
    return fields


def test_generated_facts_the_engine_takes_pass_the_filter(rulebook: Rulebook, oracle: Oracle) -> None:
    alpha = AlphaFilter.of_rules(rulebook.rules)
    vocabulary = _vocabulary(rulebook)
    seen = {"taken": 0, "dropped": 0}

    @settings(max_examples=1500, deadline=None, database=None)
    @given(generated_fields(rulebook, vocabulary))
    def check(fields: dict[str, Any]) -> None:
        handled = oracle.handles(fields)
        passes = alpha.may_accept(fields)
        assert passes or not handled, f"the filter dropped a fact the engine takes: {fields}"
        seen["taken"] += handled
        seen["dropped"] += not passes

    check()
    assert seen["taken"] > 20 and seen["dropped"] > 100


def test_only_a_certain_mismatch_drops_a_fact() -> None:
    alpha = AlphaFilter(
        [{"kind": "medication", "class": ["a", "b"], "current": True, "prior_pgp_substrates": {">=": 2}}]
    )
    medication = {"kind": "medication", "class": "a", "current": True}
    assert alpha.may_accept(medication)
    assert alpha.may_accept({**medication, "class": "b"})
    assert not alpha.may_accept({**medication, "class": "c"})  # text against text, unequal
    assert not alpha.may_accept({**medication, "current": False})  # true/false against true/false
    assert not alpha.may_accept({**medication, "kind": "condition"})  # no pattern of that kind
    # "maybe": left to the engine
    assert alpha.may_accept({**medication, "current": 1})  # another type than the constant's
    assert alpha.may_accept({"kind": "medication", "class": "a"})  # the tested field is missing
    assert alpha.may_accept({**medication, "prior_pgp_substrates": 0})  # comparisons are not decided
    assert alpha.may_accept({**medication, "class": 7})  # a class of another type: every pattern of the kind
    assert alpha.may_accept({"class": "c"})  # no kind at all


def test_a_pattern_without_an_exact_kind_or_class_keeps_everything_it_might_take() -> None:
    anything = AlphaFilter([{"kind": ["medication", 3], "current": True}])
    assert anything.may_accept({"kind": "condition", "current": False})
    any_class = AlphaFilter([{"kind": "medication", "current": True}])
    assert any_class.may_accept({"kind": "medication", "class": "whatever", "current": True})
    assert not any_class.may_accept({"kind": "medication", "class": "whatever", "current": False})


def test_dropping_changes_no_match_on_the_samples(rulebook: Rulebook) -> None:
    filtered, unfiltered = Engine(rulebook), Engine(rulebook)
    unfiltered._alpha.may_accept = lambda fields: True  # type: ignore[method-assign]
    screen = screen_for(rulebook.terminology)
    compared = 0
    for _, data, now, version in SAMPLE_INPUTS:
        try:
            facts = extract_facts(
                read_bytes(data, screen=screen),
                rulebook.terminology,
                now,
                validator("R5" if version == "R5" else "R4"),
            )
        except Exception:
            continue
        assert filtered.run(facts.facts) == unfiltered.run(facts.facts)
        compared += 1
    assert compared > 150


def test_the_engine_asserts_less_for_a_long_chemotherapy_record(rulebook: Rulebook) -> None:
    bulk = next(data for name, data, _, _ in SAMPLE_INPUTS if name == "bulk-0")
    facts = extract_facts(read_bytes(bulk), rulebook.terminology, date(2026, 11, 23), validator("R4")).facts
    engine = Engine(rulebook)
    asserted: list[str] = []
    original = engine._assert

    def counting(fields: dict[str, Any]) -> bool:
        asserted.append(str(fields["id"]))
        return original(fields)

    engine._assert = counting  # type: ignore[method-assign]
    engine.run(facts)
    assert len(facts) > 200 and len(asserted) < 10
