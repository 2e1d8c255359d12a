"""durable-rules' JSON, made by orjson, is the document the standard library made.

durable-rules writes every fact as JSON text (json.dumps with ensure_ascii=False);
mdrcds.reasoning.durablejson writes it with orjson and falls back to the standard library where orjson
would write something else. Compared here as the values the
texts hold (orjson writes compact JSON; the C core reads values)."""

from __future__ import annotations

import json
from typing import Any

import durable.engine
from hypothesis import given, settings
from hypothesis import strategies as st

from mdrcds.reasoning import durablejson
from mdrcds.reasoning.engine import Engine

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),  # past 64 bits too
    st.floats(),  # NaN and the infinities too
    st.text(),  # any code point, lone surrogates included
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.text(max_size=5), st.integers(), st.booleans()), inner, max_size=4),
    ),
    max_leaves=12,
)


def held(text: str) -> str:
    """The values a JSON text holds, in one canonical text (NaN as NaN, keys sorted)."""
    return json.dumps(json.loads(text), sort_keys=True, ensure_ascii=True)


def outcome(make: Any) -> tuple[str, str]:
    try:
        return ("ok", held(make()))
    except Exception as exc:  # the same failure either way (a lone surrogate the C core cannot take)
        return ("error", type(exc).__name__)


@settings(max_examples=2000, deadline=None)
@given(value=VALUES)
def test_a_written_document_holds_what_json_wrote(value: Any) -> None:
    ours = outcome(lambda: durablejson.dumps(value, ensure_ascii=False))
    theirs = outcome(lambda: json.dumps(value, ensure_ascii=False))
    assert ours == theirs


def test_durable_rules_uses_it_once_the_engine_is_imported() -> None:
    assert Engine is not None  # importing mdrcds.reasoning.engine installs it
    assert durable.engine.json.dumps is durablejson.dumps
    assert durable.engine.json.loads is json.loads
