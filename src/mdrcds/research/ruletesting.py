"""Rule testing over uploaded files (the rule-testing page): Bundles, NDJSON and YAML test cases in,
per-rule counts, per-patient cards and expected-versus-actual differences out.

The same code path as `mdrcds test` and `mdrcds batch`: research-mode and silent rules are
evaluated and shown, as researchers need them.

Nothing a client sends is ever used as a path: a case's `data: [{bundle: NAME}]` resolves only to a
file uploaded in the same request under that exact name, held in memory; such a file is the case's data
and is not also run as a patient of its own.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from mdrcds.cards.render import rule_of
from mdrcds.errors import MdrcdsError
from mdrcds.knowledge.rulebook import Rulebook
from mdrcds.reading.population import ReadProblem, ndjson_records
from mdrcds.reasoning.engine import Engine
from mdrcds.research.testcases import BundleResolver, CaseError, parse_case, run_case
from mdrcds.service import evaluate

_EXPECTED_LINE = re.compile(r"^\s*([a-z0-9-]+)\s*[:=]\s*(\d+)\s*$")


class TestingInputError(MdrcdsError):
    """The upload as a whole cannot be run (too many patients, unreadable expectations)."""

    __test__ = False


@dataclass(frozen=True)
class Upload:
    """One uploaded file."""

    name: str
    data: bytes


@dataclass
class Subject:
    """One patient (from a Bundle or NDJSON) or one test case, with what fired."""

    name: str
    kind: str
    """'patient' or 'case'"""
    cards: list[dict[str, Any]] = field(default_factory=list)
    expected: dict[str, bool] = field(default_factory=dict)
    """rule id -> expected to fire (test cases only)"""
    problems: list[str] = field(default_factory=list)
    """expected versus actual, one line per difference (test cases only)"""
    error: str | None = None

    @property
    def fired(self) -> set[str]:
        return {rule_of(card) for card in self.cards}

    @property
    def passed(self) -> bool | None:
        """Whether a test case passed; None for a patient (nothing was expected of it)."""
        return None if self.kind == "patient" and self.error is None else not self.problems and not self.error


@dataclass(frozen=True)
class RuleRow:
    """One rule's line of the summary: fired for `fired` of `total` subjects."""

    rule_id: str
    fired: int
    total: int
    expected: int | None
    """subjects expected to fire it (cases' expectations, or the count the researcher typed)"""
    expected_not: int
    """cases that expect it not to fire"""
    covered: bool
    """a case expects it to fire and one expects it not to"""

    @property
    def matches(self) -> bool | None:
        return None if self.expected is None else self.expected == self.fired


@dataclass
class TestingRun:
    """What one upload gave."""

    __test__ = False
    subjects: list[Subject]
    read_problems: list[str]

    def rows(self, rulebook: Rulebook, expected_counts: dict[str, int]) -> list[RuleRow]:
        """One row per rule of the rulebook, in catalogue order."""
        rows = []
        for rule in sorted(rulebook.rules, key=lambda r: (r.category, r.id)):
            fired = sum(1 for s in self.subjects if rule.id in s.fired)
            from_cases = sum(1 for s in self.subjects if s.expected.get(rule.id) is True)
            not_expected = sum(1 for s in self.subjects if s.expected.get(rule.id) is False)
            has_case_expectation = any(rule.id in s.expected for s in self.subjects)
            expected = expected_counts.get(rule.id, from_cases if has_case_expectation else None)
            rows.append(
                RuleRow(
                    rule.id,
                    fired,
                    len(self.subjects),
                    expected,
                    not_expected,
                    from_cases > 0 and not_expected > 0,
                )
            )
        return rows


def parse_expected_counts(text: str, rulebook: Rulebook) -> dict[str, int]:
    """'rule-id: N' lines (blank lines and # comments ignored); raises TestingInputError."""
    known = {rule.id for rule in rulebook.rules}
    counts: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _EXPECTED_LINE.match(line)
        if match is None:
            raise TestingInputError(f"expected counts, line {number}: write 'rule-id: number'")
        if match[1] not in known:
            raise TestingInputError(f"expected counts, line {number}: no rule {match[1]!r} in the rulebook")
        counts[match[1]] = int(match[2])
    return counts


def run_uploads(
    uploads: Sequence[Upload],
    rulebook: Rulebook,
    engine: Engine,
    *,
    now: date,
    hook: str,
    max_subjects: int,
) -> TestingRun:
    """Evaluate every patient and case in the uploads. Files that cannot be read are reported, not
    raised; more than `max_subjects` patients and cases raise TestingInputError before evaluating."""
    problems: list[str] = []
    pending: list[tuple[str, str, Any]] = []  # (kind, name, bytes or a loaded case)
    named: dict[str, Upload] = {}
    for number, upload in enumerate(uploads):
        name = _base_name(upload.name, number)
        named[name if name not in named else f"{name} (upload {number + 1})"] = upload
    referenced: set[str] = set()
    resolve = _uploaded(named, referenced)
    for name, upload in named.items():
        if Path(name).suffix.lower() in (".yaml", ".yml"):
            try:
                pending.append(("case", name, parse_case(upload.data, Path(name), resolve)))
            except CaseError as exc:
                problems += str(exc).splitlines()
    for name, upload in named.items():
        suffix = Path(name).suffix.lower()
        if suffix in (".yaml", ".yml") or name in referenced:
            continue
        if suffix == ".ndjson":
            read: list[ReadProblem] = []
            patients = ndjson_records(upload.data, name, read)
            problems += [f"{p.source}: {p.message}" for p in read]
            pending += [("patient", f"{name}: Patient/{p.patient_id}", p.document) for p in patients]
        elif suffix == ".json":
            pending.append(("patient", name, upload.data))
        else:
            problems.append(f"{name}: not a .json Bundle, .ndjson export or .yaml test case")
        if len(pending) > max_subjects:
            break
    if len(pending) > max_subjects:
        raise TestingInputError(
            f"more than {max_subjects} patients and cases in one upload; use `mdrcds batch` for more"
        )
    subjects = [_run(kind, name, item, rulebook, engine, now, hook) for kind, name, item in pending]
    return TestingRun(subjects, problems)


def _base_name(name: str, number: int) -> str:
    """The file name a browser sent, without any folder part (a browser sends none; a client might)."""
    return Path(name.replace("\\", "/")).name or f"upload-{number + 1}"


def _uploaded(named: dict[str, Upload], referenced: set[str]) -> BundleResolver:
    def resolve(reference: str) -> bytes:
        upload = named.get(reference)
        if upload is None or Path(reference).suffix.lower() != ".json":
            raise CaseError(
                f"{reference!r} is not a .json file uploaded with this case; upload the Bundle in the "
                "same request and name it by its file name (no paths are read on the server)"
            )
        referenced.add(reference)
        return upload.data

    return resolve


def _run(
    kind: str, name: str, item: Any, rulebook: Rulebook, engine: Engine, now: date, hook: str
) -> Subject:
    if kind == "case":
        result = run_case(item, rulebook, engine)
        expected = {e.rule: e.fired for e in item.case.expect}
        cards = list(result.evaluation.cards) if result.evaluation else []
        return Subject(f"{name}: {item.case.name}", kind, cards, expected, list(result.problems))
    try:
        evaluation = evaluate(
            item,
            rulebook=rulebook,
            engine=engine,
            now=now,
            default_hook=hook,
            source=name,
            include_research=True,
            include_silent=True,
        )
    except MdrcdsError as exc:
        return Subject(name, kind, error=str(exc).splitlines()[0][:500])
    label = f"{name} (Patient/{evaluation.patient_id})" if evaluation.patient_id and ":" not in name else name
    return Subject(label, kind, list(evaluation.cards))
