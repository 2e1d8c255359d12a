"""Which facts some rule pattern could accept, decided in Python before a fact reaches the engine.

Most facts of a long record match no pattern at all: the past orders of a chemotherapy patient
(`current` false) or drugs of a class no rule joins on. durable-rules answers "not handled" for each of
them only after the fact has been serialised and asserted, about 20 microseconds apiece, and an
oncology record has hundreds. This filter drops them first.

It is conservative by construction, a superset of the engine's own alpha tests: a fact is dropped only
when, for every pattern of its kind, some equality test is certainly false, i.e. the fact holds the
tested field with a value of the *same type* as the constant (text against text, true/false against
true/false) and a different value. Comparisons, numbers, a missing field and a value of another type
are all "maybe", and "maybe" means the fact is asserted and the engine decides, as before.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from itertools import chain

from mdrcds.knowledge.ruleschema import Constraint, Pattern, Rule

_Test = tuple[str, type, frozenset[object]]
"""One exact test: field name, the constants' type (str or bool), the values that pass."""


def _exact_test(name: str, constraint: Constraint) -> _Test | None:
    """The equality test of a constraint when it can be decided exactly, else None ("maybe")."""
    values = constraint if isinstance(constraint, list) else [constraint]
    if isinstance(constraint, dict) or not values:
        return None  # a comparison: left to the engine
    for kind in (bool, str):
        # type(), not isinstance: True is an int, and 1 is no bool.
        if all(type(value) is kind for value in values):
            return name, kind, frozenset(values)
    return None


class AlphaFilter:
    """Says of a fact's engine fields whether any of the patterns (every rule's `when.all`) could
    accept it."""

    def __init__(self, patterns: Iterable[Pattern]) -> None:
        # Per kind, per class, the exact tests of each pattern other than kind and class; a pattern
        # that does not test its class exactly is filed under the key None (every class).
        self._index: dict[str, dict[str | None, list[tuple[_Test, ...]]]] = {}
        self._any_kind = False
        """True when some pattern does not test `kind` exactly: then no fact is dropped."""
        for pattern in patterns:
            self._add(pattern)

    @classmethod
    def of_rules(cls, rules: Iterable[Rule]) -> AlphaFilter:
        """The filter of every pattern of these rules."""
        return cls(pattern for rule in rules for pattern in rule.when.all.values())

    def _add(self, pattern: Pattern) -> None:
        kinds = _exact_test("kind", pattern["kind"]) if "kind" in pattern else None
        if kinds is None or kinds[1] is not str:
            self._any_kind = True
            return
        classes = _exact_test("class", pattern["class"]) if "class" in pattern else None
        class_keys = sorted(str(c) for c in classes[2]) if classes and classes[1] is str else [None]
        tests = tuple(
            test
            for name, constraint in sorted(pattern.items())
            if name not in ("kind", "class") and (test := _exact_test(name, constraint)) is not None
        )
        for kind in sorted(str(k) for k in kinds[2]):
            by_class = self._index.setdefault(kind, {})
            for value_set in class_keys:
                by_class.setdefault(value_set, []).append(tests)

    def may_accept(self, fields: Mapping[str, object]) -> bool:
        """False only when no pattern can accept a fact with these engine fields."""
        kind = fields.get("kind")
        if self._any_kind or type(kind) is not str:
            return True
        by_class = self._index.get(kind)
        if by_class is None:
            return False  # every pattern tests another kind
        value_set = fields.get("class")
        if type(value_set) is str:
            candidates = chain(by_class.get(None, ()), by_class.get(value_set, ()))
        else:
            candidates = chain.from_iterable(by_class.values())
        return any(_passes(tests, fields) for tests in candidates)


def _passes(tests: tuple[_Test, ...], fields: Mapping[str, object]) -> bool:
    """False when one test is certainly failed: the field is there, of the constants' type, and
    holds none of the values."""
    for name, kind, values in tests:
        if name in fields:
            value = fields[name]
            if type(value) is kind and value not in values:
                return False
    return True
