"""Rule test cases: one YAML file per case (CQL Testing Framework style), and the golden cases.

A case names a frozen `now`, a `hook`, the patient's `data` and what must (or must not) fire:

```yaml
name: verapamil with pembrolizumab selected
now: 2026-11-23
hook: order-select            # draft MedicationRequests in `data` are the orders being placed
data:
  - resourceType: MedicationRequest
    status: active
    medicationCodeableConcept: "rxnorm#11170 verapamil"   # SYSTEM#code display shorthand
  - bundle: more-data.json                              # a Bundle file (see below)
expect:
  - rule: mdr1-inhibitor-with-immunotherapy
    fired: true
    indicator: info
    summary_contains: [verapamil]
expect_no_other_cards: true
```

A `bundle:` reference is resolved by whoever supplies the case: `mdrcds test` reads it relative to the
case file (a researcher's own files); the rule-testing page resolves it only to a file uploaded in the
same request, and never opens a path a client sent. YAML is read with limits (`mdrcds.knowledge.yamlfile`).

A golden case directory (`request.json` + `expected.json`, as in `fhir_samples/`) is read as a case too.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import orjson
import pydantic

from mdrcds.cards.render import rule_of
from mdrcds.errors import InputError, MdrcdsError
from mdrcds.knowledge.rulebook import Rulebook
from mdrcds.knowledge.terminology import SYSTEM_URIS
from mdrcds.knowledge.yamlfile import DEFAULT_LIMITS, YamlLimitError, YamlLimits, load_yaml
from mdrcds.reading.fhir import HOOKS
from mdrcds.reasoning.engine import Engine
from mdrcds.service import Evaluation, evaluate

DEFAULT_PATIENT = "test-patient"
_SHORTHAND = re.compile(r"^(?P<system>[A-Za-z][\w.+-]*(?::[^\s#]+)?)#(?P<code>[^\s#]+)(?: (?P<display>.+))?$")


class CaseError(MdrcdsError):
    """A test case file is invalid; the message names the file and the field."""


BundleResolver = Callable[[str], bytes]
"""Returns the bytes of the Bundle a case names in `data: [{bundle: NAME}]`; raises CaseError."""


class Expectation(pydantic.BaseModel):
    """What one rule must do in a case."""

    model_config = pydantic.ConfigDict(extra="forbid")
    rule: str
    fired: bool = True
    indicator: str | None = None
    summary_contains: list[str] = []
    detail_contains: list[str] = []
    suggestion_labels: list[str] | None = None

    @pydantic.field_validator("summary_contains", "detail_contains", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class TestCase(pydantic.BaseModel):
    """One test case, as written in YAML."""

    __test__ = False  # not a pytest class
    model_config = pydantic.ConfigDict(extra="forbid")
    name: str
    now: date
    hook: str = "patient-view"
    fhir_version: str = "R4"
    data: list[dict[str, Any]] = []
    expect: list[Expectation] = []
    expect_no_other_cards: bool = False

    @pydantic.field_validator("hook")
    @classmethod
    def _known_hook(cls, value: str) -> str:
        if value not in HOOKS:
            raise ValueError(f"unknown hook {value!r} (expected one of {', '.join(HOOKS)})")
        return value


@dataclass
class LoadedCase:
    """A case ready to run: its definition, where it came from, and the document to evaluate."""

    case: TestCase
    path: Path
    document: Any


@dataclass
class CaseResult:
    """The outcome of one case: `problems` is empty when it passed."""

    loaded: LoadedCase
    evaluation: Evaluation | None
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems

    def fired(self) -> set[str]:
        """Rule ids that made a card."""
        if self.evaluation is None:
            return set()
        return {rule_of(card) for card in self.evaluation.cards}


STATED_DATE_FILES = ("expected.json", "now.json")
"""Files beside a sample that state its evaluation date as `now`: a golden case's expected.json, or
api/examples/now.json."""


def stated_now(path: Path) -> date | None:
    """The evaluation date stated beside a sample (`now` in its expected.json, or in now.json), so that
    examples are evaluated at their own date and do not age; None when none is stated."""
    for name in STATED_DATE_FILES:
        stated = path.with_name(name)
        if path.name == name or not stated.is_file():
            continue
        try:
            value = orjson.loads(stated.read_bytes()).get("now")
            return date.fromisoformat(value) if isinstance(value, str) else None
        except (orjson.JSONDecodeError, ValueError, AttributeError, OSError):
            return None
    return None


def find_cases(paths: Sequence[Path]) -> Iterator[Path]:
    """Case files (*.yaml, *.yml) and golden case directories under `paths`, in a stable order."""
    for path in paths:
        if path.is_dir() and (path / "expected.json").exists():
            yield path
        elif path.is_dir():
            children = sorted(path.iterdir())
            yield from find_cases([c for c in children if c.is_dir() or c.suffix in (".yaml", ".yml")])
        elif path.suffix in (".yaml", ".yml"):
            yield path
        elif not path.exists():
            raise CaseError(f"{path}: no such file or directory")


def load_case(path: Path) -> LoadedCase:
    """Read a YAML case file (its `bundle:` references relative to it) or a golden case directory."""
    if path.is_dir():
        return _golden_case(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CaseError(f"{path}: cannot read ({exc.strerror})") from None
    return parse_case(data, path, beside(path))


def parse_case(
    data: bytes, path: Path, resolve: BundleResolver, limits: YamlLimits = DEFAULT_LIMITS
) -> LoadedCase:
    """A case from its YAML bytes; `path` names it in messages, `resolve` supplies `bundle:` files."""
    try:
        raw = load_yaml(data, str(path), limits)
    except YamlLimitError as exc:
        raise CaseError(str(exc)) from None
    try:
        case = TestCase.model_validate(raw)
    except pydantic.ValidationError as exc:
        problems = [f"{path}: {'.'.join(map(str, e['loc'])) or '$'}: {e['msg']}" for e in exc.errors()]
        raise CaseError("\n".join(problems)) from None
    return LoadedCase(case, path, _bundle(case, path, resolve))


def beside(case_file: Path) -> BundleResolver:
    """Resolve `bundle:` names relative to a case file on the researcher's own disk (`mdrcds test`)."""

    def read(name: str) -> bytes:
        target = case_file.parent / name
        try:
            return target.read_bytes()
        except OSError as exc:
            raise CaseError(f"{case_file}: cannot read bundle {target} ({exc.strerror})") from None

    return read


def _golden_case(directory: Path) -> LoadedCase:
    expected = orjson.loads((directory / "expected.json").read_bytes())
    request = (directory / "request.json").read_bytes()
    expect = [
        Expectation(
            rule=card["rule"],
            indicator=card.get("indicator"),
            summary_contains=card.get("summary_contains", []),
            detail_contains=card.get("detail_contains", []),
            suggestion_labels=card.get("suggestion_labels"),
        )
        for card in expected["cards"]
    ]
    negative = expected.get("negative_for")
    for rule in [negative] if isinstance(negative, str) else negative or []:
        expect.append(Expectation(rule=rule, fired=False))
    case = TestCase(
        name=directory.name,
        now=expected["now"],
        hook=orjson.loads(request)["hook"],
        fhir_version=expected.get("fhir_version", "R4"),
        expect=expect,
        expect_no_other_cards=expected.get("no_other_cards", False),
    )
    return LoadedCase(case, directory, request)


def _bundle(case: TestCase, path: Path, resolve: BundleResolver) -> dict[str, Any]:
    resources: list[dict[str, Any]] = []
    for index, item in enumerate(case.data):
        if set(item) == {"bundle"}:
            try:
                bundle = orjson.loads(resolve(str(item["bundle"])))
            except CaseError as exc:
                raise CaseError(f"{path}: data[{index}].bundle: {_after_name(str(exc), path)}") from None
            except orjson.JSONDecodeError as exc:
                raise CaseError(f"{path}: data[{index}].bundle: not JSON ({exc})") from None
            if not isinstance(bundle, dict):
                raise CaseError(f"{path}: data[{index}].bundle: not a FHIR Bundle (a JSON object)")
            resources += [
                e["resource"] for e in bundle.get("entry") or [] if isinstance(e, dict) and "resource" in e
            ]
        elif isinstance(item.get("resourceType"), str):
            resources.append(_expand(item))
        else:
            raise CaseError(f"{path}: data[{index}]: a FHIR resource (with resourceType) or {{bundle: FILE}}")
    patients = [r for r in resources if r["resourceType"] == "Patient"]
    patient_id = str(patients[0].get("id", DEFAULT_PATIENT)) if patients else DEFAULT_PATIENT
    if not patients:
        resources.insert(0, {"resourceType": "Patient", "id": DEFAULT_PATIENT})
    counters: dict[str, int] = {}
    for resource in resources:
        kind = resource["resourceType"]
        counters[kind] = counters.get(kind, 0) + 1
        resource.setdefault("id", f"{kind.lower()}-{counters[kind]}")
        if kind != "Patient" and "subject" not in resource and "patient" not in resource:
            resource["subject"] = {"reference": f"Patient/{patient_id}"}
    return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}


def _after_name(message: str, path: Path) -> str:
    prefix = f"{path}: "
    return message[len(prefix) :] if message.startswith(prefix) else message


def _expand(value: Any) -> Any:
    """Replace every 'SYSTEM#code display' string with a CodeableConcept."""
    if isinstance(value, dict):
        return {key: _expand(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_expand(item) for item in value]
    if isinstance(value, str):
        match = _SHORTHAND.match(value)
        if match and (match["system"] in SYSTEM_URIS or ":" in match["system"]):
            system = SYSTEM_URIS.get(match["system"], match["system"])
            coding = {"system": system, "code": match["code"]}
            if match["display"]:
                coding["display"] = match["display"]
                return {"coding": [coding], "text": match["display"]}
            return {"coding": [coding]}
    return value


def run_path(path: Path, rulebook: Rulebook, engine: Engine) -> CaseResult:
    """Load and run one case; a case that cannot be loaded is a failed case, not an abort."""
    try:
        loaded = load_case(path)
    except CaseError as exc:
        placeholder = TestCase(name=path.stem if path.is_file() else path.name, now=date.min)
        return CaseResult(LoadedCase(placeholder, path, None), None, str(exc).splitlines())
    return run_case(loaded, rulebook, engine)


def run_case(loaded: LoadedCase, rulebook: Rulebook, engine: Engine) -> CaseResult:
    """Evaluate a case and compare what fired with what it expects."""
    case = loaded.case
    try:
        evaluation = evaluate(
            loaded.document if isinstance(loaded.document, bytes) else orjson.dumps(loaded.document),
            rulebook=rulebook,
            engine=engine,
            now=case.now,
            default_hook=case.hook,
            fhir_version="R5" if case.fhir_version == "R5" else "R4",
            source=str(loaded.path),
            include_research=True,
            include_silent=True,
        )
    except InputError as exc:
        return CaseResult(loaded, None, [f"the data could not be evaluated: {exc}"])
    result = CaseResult(loaded, evaluation)
    cards = {rule_of(card): card for card in evaluation.cards}
    known = {rule.id for rule in rulebook.rules}
    for expectation in case.expect:
        result.problems += _compare(expectation, cards.get(expectation.rule), expectation.rule in known)
    if case.expect_no_other_cards:
        expected = {e.rule for e in case.expect if e.fired}
        for rule_id, card in cards.items():
            if rule_id not in expected:
                result.problems.append(f"rule {rule_id}: unexpected card: {card['summary']!r}")
    return result


def _compare(expectation: Expectation, card: dict[str, Any] | None, known: bool) -> list[str]:
    rule = expectation.rule
    if not known:
        return [f"rule {rule}: not in the rulebook"]
    if not expectation.fired:
        return [f"rule {rule}: expected no card, got {card['summary']!r}"] if card else []
    if card is None:
        return [f"rule {rule}: expected a card, got none"]
    problems = []
    if expectation.indicator and card["indicator"] != expectation.indicator:
        problems.append(
            f"rule {rule}: indicator: expected {expectation.indicator!r}, got {card['indicator']!r}"
        )
    for text in expectation.summary_contains:
        if text not in card["summary"]:
            problems.append(f"rule {rule}: summary: expected to contain {text!r}, got {card['summary']!r}")
    for text in expectation.detail_contains:
        if text not in card.get("detail", ""):
            problems.append(f"rule {rule}: detail: expected to contain {text!r}")
    if expectation.suggestion_labels is not None:
        labels = [s["label"] for s in card.get("suggestions", [])]
        if labels != expectation.suggestion_labels:
            problems.append(
                f"rule {rule}: suggestions: expected {expectation.suggestion_labels}, got {labels}"
            )
    return problems


def coverage(results: Sequence[CaseResult], rulebook: Rulebook) -> dict[str, dict[str, int]]:
    """Per rule: in how many cases it fired, and how many cases expected it not to fire (and it did not)."""
    table = {rule.id: {"fired": 0, "not_fired": 0} for rule in rulebook.rules}
    for result in results:
        fired = result.fired()
        for rule_id in fired & set(table):
            table[rule_id]["fired"] += 1
        for expectation in result.loaded.case.expect:
            if not expectation.fired and expectation.rule in table and expectation.rule not in fired:
                table[expectation.rule]["not_fired"] += 1
    return table


def junit_xml(results: Sequence[CaseResult]) -> bytes:
    """The results as a JUnit XML report (one testcase per case)."""
    failures = sum(1 for r in results if not r.passed)
    suite = ElementTree.Element(
        "testsuite", name="mdrcds rule tests", tests=str(len(results)), failures=str(failures), errors="0"
    )
    for result in results:
        element = ElementTree.SubElement(
            suite,
            "testcase",
            classname="mdrcds.rules",
            name=result.loaded.case.name,
            file=str(result.loaded.path),
        )
        if not result.passed:
            failure = ElementTree.SubElement(element, "failure", message=result.problems[0])
            failure.text = "\n".join(result.problems)
    return bytes(ElementTree.tostring(suite, encoding="utf-8", xml_declaration=True))
