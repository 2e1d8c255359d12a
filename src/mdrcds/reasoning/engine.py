"""The rules-engine adapter: the rulebook compiled onto durable-rules, and matches out.

This is the only module that imports durable_rules. The guardrails come from the engine's known
limits and crash shapes (docs/decisions/0001-rules-engine.md):

- one Host per Engine, its rulesets registered once from deep copies (registration mutates them);
- the Host's background dispatch timers are never started: actions run synchronously inside
  `assert_fact`, and timer threads calling into the C core unlocked are a crash risk;
- one lock around every engine call; every fact an evaluation asserted is retracted in `finally`, and
  the session is reused. `delete_state` is never called: it crashes the process when the session holds
  a partly filled join (docs/decisions/0002-retract-instead-of-delete-state.md). A session that is not
  empty after retraction is abandoned for a fresh one;
- flat facts with explicit unique ids, deduplicated; MessageNotHandledException per fact is normal,
  and a fact no pattern can accept (`mdrcds.reasoning.alphafilter`) is not asserted at all;
- equality and constant tests only: cross-fact comparisons are post-match predicates, not joins.
"""

from __future__ import annotations

import copy
import itertools
import threading
from collections.abc import Callable, Iterable
from typing import Any

import durable.engine as durable

from mdrcds.errors import EngineCapacityError, EngineError, EvaluationLimitError
from mdrcds.facts import Fact
from mdrcds.knowledge.rulebook import Rulebook
from mdrcds.knowledge.ruleschema import Constraint, Pattern, Rule
from mdrcds.reasoning import durablejson
from mdrcds.reasoning.alphafilter import AlphaFilter
from mdrcds.reasoning.findings import Match

RULESET = "mdrcds"
_OPERATORS = {">": "$gt", ">=": "$gte", "<": "$lt", "<=": "$lte", "!=": "$neq"}
_MAX_LIVE_SESSIONS = 1024  # durable-rules MAX_STATE_INDEX_LENGTH

durablejson.install(durable)  # the facts' JSON for the C core, the same documents made by orjson


class _QuietHost(durable.Host):  # type: ignore[misc]
    """A Host that starts no background dispatch threads (see the module docstring)."""

    def _run(self) -> None:
        return None


def compile_pattern(pattern: Pattern) -> dict[str, Any]:
    """A rule pattern as a durable-rules expression: constant tests joined with $and."""
    tests: list[dict[str, Any]] = []
    for name, constraint in sorted(pattern.items()):
        tests.append(_compile_constraint(name, constraint))
    return tests[0] if len(tests) == 1 else {"$and": tests}


def _compile_constraint(name: str, constraint: Constraint) -> dict[str, Any]:
    if isinstance(constraint, list):
        alternatives = [{name: value} for value in constraint]
        return alternatives[0] if len(alternatives) == 1 else {"$or": alternatives}
    if isinstance(constraint, dict):
        comparisons = [{_OPERATORS[op]: {name: value}} for op, value in sorted(constraint.items())]
        return comparisons[0] if len(comparisons) == 1 else {"$and": comparisons}
    return {name: constraint}


def compile_rulebook(rulebook: Rulebook, action: Callable[[str, Any], None]) -> dict[str, Any]:
    """The durable-rules ruleset definition for a rulebook; `action(rule_id, c)` runs on each match."""
    definition: dict[str, Any] = {}
    for rule in rulebook.rules:
        definition[rule.id] = {
            "all": [{alias: compile_pattern(pattern)} for alias, pattern in rule.when.all.items()],
            "run": _bind(action, rule),
        }
    return {RULESET: definition}


def _bind(action: Callable[[str, Any], None], rule: Rule) -> Callable[[Any], None]:
    def run(c: Any) -> None:
        action(rule.id, c)

    return run


class Engine:
    """The compiled rulebook on one durable-rules Host. Thread-safe; build one per process."""

    def __init__(self, rulebook: Rulebook) -> None:
        self.rulebook = rulebook
        self._aliases = {rule.id: tuple(rule.when.all) for rule in rulebook.rules}
        # Facts of kinds no pattern mentions are never asserted.
        self._kinds: set[str] = set()
        for rule in rulebook.rules:
            for pattern in rule.when.all.values():
                kinds = pattern.get("kind")
                self._kinds.update(str(k) for k in (kinds if isinstance(kinds, list) else [kinds]))
        self._alpha = AlphaFilter.of_rules(rulebook.rules)
        self._lock = threading.Lock()
        self._results: dict[str, list[Match]] = {}
        self._session_numbers = itertools.count(1)
        self._sid = self._new_sid()
        self.sessions_abandoned = 0
        """How many sessions were left behind because retraction did not empty them (normally 0)."""
        self._host = _QuietHost()
        try:
            # Registration deletes 'run' from the dicts it is given: hand it a copy.
            self._host.register_rulesets(copy.deepcopy(compile_rulebook(rulebook, self._on_match)))
        except Exception as exc:  # the C core reports compile problems as bare errors with a code
            raise EngineError(f"the rules engine rejected the rulebook: {exc}") from exc

    def _on_match(self, rule_id: str, c: Any) -> None:
        facts = {alias: getattr(c, alias) for alias in self._aliases[rule_id]}
        sid = str(next(iter(facts.values()))["sid"])
        self._results.setdefault(sid, []).append(
            Match(rule_id, tuple((alias, str(fact["id"])) for alias, fact in facts.items()))
        )

    def _new_sid(self) -> str:
        number = next(self._session_numbers)
        if number > _MAX_LIVE_SESSIONS:
            raise EngineCapacityError("the rules engine has abandoned too many sessions; restart the process")
        return f"s{number}"

    def run(self, facts: Iterable[Fact], max_matches: int | None = None) -> list[Match]:
        """Assert the facts, collect every match, retract the facts; matches in a deterministic order.

        Past `max_matches` rule matches the evaluation stops with EvaluationLimitError (a join that
        fans out over many facts); the facts asserted so far are retracted all the same.
        """
        unique = {fact.id: fact for fact in facts if fact.kind in self._kinds}
        with self._lock:
            sid = self._sid
            self._results[sid] = []
            asserted: list[dict[str, Any]] = []
            try:
                for fact_id in sorted(unique):
                    fields = unique[fact_id].engine_fields()
                    if not self._alpha.may_accept(fields):
                        continue  # no pattern can take it: the engine would answer "not handled"
                    fields["sid"] = sid
                    if self._assert(fields):
                        asserted.append(fields)
                    if max_matches is not None and len(self._results[sid]) > max_matches:
                        raise EvaluationLimitError(
                            f"over {max_matches} rule matches in one evaluation; evaluate less data at a time"
                        )
                matches = self._results[sid]
            finally:
                self._results.pop(sid, None)
                self._clear_session(sid, asserted)
        return sorted(set(matches), key=lambda m: (m.rule_id, m.facts))

    def _assert(self, fields: dict[str, Any]) -> bool:
        """Assert one fact; False when no rule pattern accepts it (normal)."""
        try:
            self._host.assert_fact(RULESET, fields)
            return True
        except durable.MessageNotHandledException:
            return False
        except durable.MessageObservedException:
            # Identity is a 32-bit hash of the id inside the engine; a collision would drop a fact silently.
            raise EngineError(f"the rules engine took fact {fields['id']} for one already asserted") from None
        except MemoryError:
            raise EngineCapacityError(
                f"the rules engine is out of session slots (fact {fields['id']})"
            ) from None
        except Exception as exc:
            raise EngineError(f"the rules engine failed on fact {fields['id']}: {exc}") from exc

    def _clear_session(self, sid: str, asserted: list[dict[str, Any]]) -> None:
        """Retract what this evaluation asserted; abandon the session if anything is left in it."""
        try:
            for fields in asserted:
                self._host.retract_fact(RULESET, fields)
            if not asserted or not self._host.get_facts(RULESET, sid):
                return
        except Exception:
            pass
        self._sid = self._new_sid()
