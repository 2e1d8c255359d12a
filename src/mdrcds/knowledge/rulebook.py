"""The rulebook: rules, value sets, citations and override reasons loaded from a rules directory,
validated together, with a linter that names the file, rule and field of every problem.

Layout of a rules directory:

    rulebook.yaml              name, version, source label, default override reasons
    rules/*.yaml               one rule per file (see `mdrcds.knowledge.ruleschema`)
    valuesets/*.yaml           one value set per file
    citations.yaml             citation key -> verified reference
    provenance/                codes.csv and the CDS Hooks override-reason CodeSystem (read here)
"""

from __future__ import annotations

import hashlib
import json
import math
import string
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import pydantic

from mdrcds.errors import RuleLoadError
from mdrcds.knowledge import icd10cm
from mdrcds.knowledge.citations import Citation
from mdrcds.knowledge.products import ProductRow, read_products, with_products
from mdrcds.knowledge.ruleschema import ENGINE_FIELDS, Rule, RulebookMeta
from mdrcds.knowledge.terminology import SYSTEM_URIS, Code, Member, Terminology, ValueSet
from mdrcds.knowledge.yamlfile import YamlLimitError, load_yaml

MAX_PATTERNS_PER_RULE = 16  # durable-rules MAX_MESSAGE_FRAMES
MAX_JOINED_PATTERNS = 3
"""Patterns one rule may join. The engine builds every combination of matching facts: with 50
medications in a record a 3-pattern join has at most 125,000 candidates; 5 patterns had 3 million and
hung the engine (120 s, 3 GB). A rule that needs more must be split or use a derived fact."""
MAX_FIELDS_PER_PATTERN = 200  # well under durable-rules' 255 properties per fact
OVERRIDE_REASON_SYSTEM = "http://terminology.hl7.org/CodeSystem/non-adherence-reason-codes"
TEMPLATE_ATTRIBUTES = (
    "label",
    "gene",
    "significance",
    "change_type",
    "target",
    "resistance_pattern",
    "prior_pgp_substrate_names",
    "dose_summary",
    "onset_note",
    "variant_name",
)
VALUE_SET_KINDS = (
    *("medication", "condition", "observation", "procedure"),
    *("gene", "route", "site", "significance", "change-type", "observation-value", "presence", "consequence"),
)
FACT_KINDS = ("medication", "condition", "observation", "procedure")
_STRONG_GRADES = ("label", "guideline")
_INFO_ONLY_GRADES = ("preclinical", "case-series")
_CHANGE_ACTIONS = ("consider-alternative", "avoid")
_M = TypeVar("_M", bound=pydantic.BaseModel)


def default_rules_dir() -> Path:
    """The rules shipped with mdrcds: inside the installed package, or the repository's `rules/`."""
    package = Path(__file__).resolve().parents[1]  # mdrcds/
    packaged = package / "rules"
    return packaged if packaged.is_dir() else package.parents[1] / "rules"


@dataclass(frozen=True)
class Rulebook:
    """Everything the engine and the card builder need, validated. Build with `load_rulebook`."""

    meta: RulebookMeta
    rules: tuple[Rule, ...]
    terminology: Terminology
    citations: dict[str, Citation]
    override_reasons: dict[str, str]
    digest: str

    @property
    def version(self) -> str:
        """'<version>+<content digest>': changes whenever any rule, value set or citation changes."""
        return f"{self.meta.version}+{self.digest}"

    def rule(self, rule_id: str) -> Rule:
        """The rule with this id (KeyError if none)."""
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)


def load_rulebook(rules_dir: Path | None = None) -> Rulebook:
    """Load and lint a rules directory; raises RuleLoadError listing every problem found."""
    rulebook, problems = _load(rules_dir or default_rules_dir())
    if problems or rulebook is None:
        raise RuleLoadError(problems)
    return rulebook


def check_rulebook(rules_dir: Path | None = None) -> list[str]:
    """Every problem in a rules directory, one message each (empty when it is clean). Beyond what
    loading checks, every ICD-10-CM code must exist in the CMS release (`mdrcds.knowledge.icd10cm`)."""
    return _load(rules_dir or default_rules_dir(), check_release=True)[1]


def with_draft_rule(rulebook: Rulebook, data: bytes, name: str) -> tuple[Rulebook, Rule]:
    """The rulebook with one draft rule file added (or, with the same id, replacing the rule it
    drafts): read with the YAML limits, validated and linted as a rule of the rulebook would be,
    against its value sets, citations and override reasons. Raises RuleLoadError with every problem,
    each naming the file. The rulebook given is not changed."""
    path = Path(Path(name.replace("\\", "/")).name or "draft.yaml")
    problems: list[str] = []
    try:
        data_read = load_yaml(data, path.name)
    except YamlLimitError as exc:
        raise RuleLoadError([str(exc)]) from None
    rule = _validated(Rule, data_read, path, problems)
    if rule is None:
        raise RuleLoadError(problems or [f"{path.name}: empty file"])
    problems.extend(
        f"{path.name}: rule {rule.id}: {problem}"
        for problem in _lint_rule(
            rule, path, rulebook.terminology, rulebook.citations, rulebook.override_reasons
        )
    )
    if problems:
        raise RuleLoadError(problems)
    others = tuple(r for r in rulebook.rules if r.id != rule.id)
    digest = hashlib.sha256(rulebook.digest.encode() + b"\0" + data).hexdigest()[:12]
    return replace(rulebook, rules=(*others, rule), digest=f"draft-{digest}"), rule


def _load(rules_dir: Path, check_release: bool = False) -> tuple[Rulebook | None, list[str]]:
    problems: list[str] = []
    digest = hashlib.sha256()

    def read_yaml(path: Path) -> Any:
        try:
            raw = path.read_bytes()
        except OSError as exc:
            problems.append(f"{path}: cannot read ({exc.strerror})")
            return None
        digest.update(path.relative_to(rules_dir).as_posix().encode() + b"\0" + raw)
        try:
            return load_yaml(raw, str(path))
        except YamlLimitError as exc:
            problems.append(str(exc))
            return None

    meta = _validated(
        RulebookMeta, read_yaml(rules_dir / "rulebook.yaml"), rules_dir / "rulebook.yaml", problems
    )
    products_path = rules_dir / "provenance" / "products.csv"
    products = _products(products_path, problems)
    if products_path.exists():
        digest.update(b"provenance/products.csv\0" + products_path.read_bytes())
    value_sets = [
        with_products(vs, products)
        for path in sorted((rules_dir / "valuesets").glob("*.yaml"))
        if (vs := _value_set(path, read_yaml(path), problems))
    ]
    if check_release:
        # Loading the release takes seconds: the linter does it, an evaluation never does.
        problems.extend(
            f"{rules_dir / 'valuesets' / vs.id}.yaml: {member.name}: ICD-10-CM {code.code!r} is not in the "
            f"{icd10cm.RELEASE}"
            for vs in value_sets
            for member in vs.members
            for code in member.codes
            if code.system == "icd10cm" and icd10cm.invalid([code.code])
        )
    citations = _citations(rules_dir / "citations.yaml", read_yaml(rules_dir / "citations.yaml"), problems)
    reasons = _override_reasons(
        rules_dir / "provenance" / "CodeSystem-non-adherence-reason-codes.json", problems
    )
    rules: list[tuple[Path, Rule]] = []
    for path in sorted((rules_dir / "rules").glob("*.yaml")):
        rule = _validated(Rule, read_yaml(path), path, problems)
        if rule is not None:
            rules.append((path, rule))
    if not rules:
        problems.append(f"{rules_dir / 'rules'}: no rule files (*.yaml)")
    terminology = Terminology(value_sets)
    seen: dict[str, Path] = {}
    for path, rule in rules:
        if rule.id in seen:
            problems.append(f"{path}: rule {rule.id}: id also used by {seen[rule.id]}")
        seen[rule.id] = path
        problems.extend(
            f"{path}: rule {rule.id}: {p}" for p in _lint_rule(rule, path, terminology, citations, reasons)
        )
    if meta is not None:
        problems.extend(
            f"{rules_dir / 'rulebook.yaml'}: override_reasons: unknown code {code!r}"
            for code in meta.override_reasons
            if code not in reasons
        )
    if problems or meta is None:
        return None, problems
    rulebook = Rulebook(
        meta=meta,
        rules=tuple(rule for _, rule in rules),
        terminology=terminology,
        citations=citations,
        override_reasons=reasons,
        digest=digest.hexdigest()[:12],
    )
    return rulebook, []


def _validated(model: type[_M], data: Any, path: Path, problems: list[str]) -> _M | None:
    if data is None:
        if path.exists():
            problems.append(f"{path}: empty file")
        return None
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        rule_id = data.get("id") if isinstance(data, dict) else None
        prefix = f"{path}: rule {rule_id}: " if rule_id and model is Rule else f"{path}: "
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"]) or "(file)"
            problems.append(f"{prefix}{where}: {error['msg']}")
        return None


def _value_set(path: Path, data: Any, problems: list[str]) -> ValueSet | None:
    if not isinstance(data, dict):
        problems.append(f"{path}: a value set must be a mapping")
        return None
    missing = [key for key in ("id", "title", "applies_to", "members") if key not in data]
    if missing:
        problems.append(f"{path}: missing {', '.join(missing)}")
        return None
    for key, what in (
        ("definition", "a one-line definition of the class (what every member is)"),
        ("source", "the authoritative list the members were derived from, and where it was read"),
    ):
        value = data.get(key)
        if not isinstance(value, str) or not value.strip() or (key == "definition" and "\n" in value.strip()):
            problems.append(f"{path}: {key}: {what}")
    if data["id"] != path.stem:
        problems.append(f"{path}: id {data['id']!r} differs from the file name")
    members: list[Member] = []
    for index, item in enumerate(data["members"] or []):
        where = f"{path}: members[{index}]"
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            problems.append(f"{where}: a member needs a name")
            continue
        codes: list[Code] = []
        for code in item.get("codes") or []:
            if not isinstance(code, dict) or code.get("system") not in SYSTEM_URIS or not code.get("code"):
                problems.append(f"{where} ({item['name']}): codes need a known system and a code: {code!r}")
                continue
            source = code.get("source")
            codes.append(Code(str(code["system"]), str(code["code"]), str(source) if source else None))
        if not codes and not item.get("unverified") and item.get("match_name", True):
            problems.append(f"{where} ({item['name']}): no codes; say why in 'unverified' (name-only match)")
        known = {"name", "codes", "synonyms", "match_name", "unverified", "note"}
        look_back = item.get("exposure_after_last_dose_days")
        if look_back is not None and (not isinstance(look_back, int) or not 0 <= look_back <= 3650):
            problems.append(f"{where}: exposure_after_last_dose_days must be a whole number of days, 0-3650")
        attributes = {k: v for k, v in item.items() if k not in known and isinstance(v, str | int | float)}
        members.append(
            Member(
                name=item["name"],
                codes=tuple(codes),
                synonyms=tuple(str(s) for s in item.get("synonyms") or []),
                match_name=bool(item.get("match_name", True)),
                unverified=item.get("unverified"),
                attributes=attributes,
            )
        )
    applies_to = data["applies_to"] if isinstance(data["applies_to"], list) else [data["applies_to"]]
    unknown = [str(kind) for kind in applies_to if kind not in VALUE_SET_KINDS]
    if unknown:
        problems.append(f"{path}: applies_to: unknown kind(s) {', '.join(unknown)}")
    look_back = data.get("exposure_after_last_dose_days", 0)
    if not isinstance(look_back, int) or isinstance(look_back, bool) or not 0 <= look_back <= 3650:
        problems.append(f"{path}: exposure_after_last_dose_days must be a whole number of days, 0-3650")
        look_back = 0
    return ValueSet(
        str(data["id"]),
        str(data["title"]),
        tuple(map(str, applies_to)),
        tuple(members),
        str(data.get("source", "")),
        look_back,
        str(data.get("definition", "")).strip(),
    )


def _products(path: Path, problems: list[str]) -> list[ProductRow]:
    if not path.exists():
        return []
    rows, errors = read_products(path)
    problems.extend(errors)
    return rows


def _citations(path: Path, data: Any, problems: list[str]) -> dict[str, Citation]:
    if not isinstance(data, dict):
        problems.append(f"{path}: citations must be a mapping of key -> reference")
        return {}
    citations: dict[str, Citation] = {}
    for key, value in data.items():
        citation = _validated(Citation, value, path, problems)
        if citation is not None:
            if not (citation.pmid or citation.doi or citation.url) and citation.kind != "seed":
                problems.append(f"{path}: {key}: needs a pmid, doi or url")
            citations[str(key)] = citation
    return citations


def _override_reasons(path: Path, problems: list[str]) -> dict[str, str]:
    try:
        code_system = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        problems.append(f"{path}: cannot read the override-reason CodeSystem ({exc})")
        return {}

    def walk(concepts: list[dict[str, Any]]) -> Iterator[tuple[str, str]]:
        for concept in concepts:
            yield concept["code"], concept["display"]
            yield from walk(concept.get("concept", []))

    return dict(walk(code_system.get("concept", [])))


def _lint_rule(
    rule: Rule, path: Path, terminology: Terminology, citations: dict[str, Citation], reasons: dict[str, str]
) -> Iterator[str]:
    if rule.id != path.stem:
        yield f"id differs from the file name {path.name}"
    aliases = set(rule.when.all)
    if len(aliases) > MAX_PATTERNS_PER_RULE:
        yield f"when.all: {len(aliases)} patterns; the engine allows at most {MAX_PATTERNS_PER_RULE}"
    elif len(aliases) > MAX_JOINED_PATTERNS:
        yield (
            f"when.all: {len(aliases)} patterns joined; at most {MAX_JOINED_PATTERNS} (the join's fan-out "
            "grows as facts^patterns: split the rule or aggregate with a derived fact)"
        )
    for alias, pattern in rule.when.all.items():
        yield from _lint_pattern(f"when.all.{alias}", pattern, terminology)
    for index, predicate in enumerate(rule.when.where):
        for name in predicate.aliases():
            if name not in aliases:
                yield f"when.where[{index}]: unknown alias {name!r}"
    for key in rule.citations:
        if key not in citations:
            yield f"citations: unknown citation key {key!r}"
    for code in rule.card.override_reasons or []:
        if code not in reasons:
            yield f"card.override_reasons: unknown code {code!r}"
    if rule.card.suggestions and rule.card.action not in _CHANGE_ACTIONS:
        yield (
            f"card.suggestions: a card whose action is {rule.card.action!r} must not offer to remove an "
            f"order (only {' or '.join(_CHANGE_ACTIONS)} may)"
        )
    for index, suggestion in enumerate(rule.card.suggestions):
        if suggestion.remove_draft not in aliases:
            yield f"card.suggestions[{index}].remove_draft: unknown alias {suggestion.remove_draft!r}"
    for field_name, text in rule.card.texts().items():
        yield from _lint_template(f"card.{field_name}", text, aliases)
    for name, variants in (
        ("consequence", rule.card.consequence_variants),
        ("recommendation", rule.card.recommendation_variants),
    ):
        for index, variant in enumerate(variants):
            for alias in variant.when:
                if alias not in aliases:
                    yield f"card.{name}_variants[{index}].when: unknown alias {alias!r}"
    if rule.card.action not in ("no-change", "monitor") and rule.card.change_for is None:
        yield f"card.change_for: an action of {rule.card.action!r} must name the alias whose drug changes"
    if rule.card.change_for is not None and rule.card.change_for not in aliases:
        yield f"card.change_for: unknown alias {rule.card.change_for!r}"
    for index, suggestion in enumerate(rule.card.suggestions):
        if rule.card.change_for is not None and suggestion.remove_draft != rule.card.change_for:
            yield (
                f"card.suggestions[{index}].remove_draft: the card recommends changing "
                f"{rule.card.change_for!r}, not {suggestion.remove_draft!r}"
            )
    for index, line in enumerate(rule.card.context):
        if line.value_set not in terminology.value_sets:
            yield f"card.context[{index}].class: unknown value set {line.value_set!r}"
        if line.alias is not None and line.alias not in aliases:
            yield f"card.context[{index}].alias: unknown alias {line.alias!r}"
        if line.if_member and line.alias is None:
            yield f"card.context[{index}].if_member: needs an alias"
    yield from _lint_wording(rule)


def _lint_pattern(where: str, pattern: dict[str, Any], terminology: Terminology) -> Iterator[str]:
    if len(pattern) > MAX_FIELDS_PER_PATTERN:
        yield f"{where}: {len(pattern)} tests; at most {MAX_FIELDS_PER_PATTERN}"
    if "kind" not in pattern or "class" not in pattern:
        yield f"{where}: every pattern needs 'kind' and 'class'"
    for name, constraint in pattern.items():
        expected = ENGINE_FIELDS.get(name)
        if expected is None:
            yield f"{where}.{name}: unknown fact field (known: {', '.join(sorted(ENGINE_FIELDS))})"
            continue
        values = (
            constraint
            if isinstance(constraint, list)
            else (list(constraint.values()) if isinstance(constraint, dict) else [constraint])
        )
        for value in values:
            # bool is an int: a number field must not take true/false, a bool field must take exactly that.
            wrong_bool = isinstance(value, bool) and expected is not bool
            if wrong_bool or not isinstance(value, expected):
                yield f"{where}.{name}: {value!r} is not a valid value for this field"
        if isinstance(constraint, dict) and expected != (int, float):
            yield f"{where}.{name}: comparisons apply only to numeric fields"
        for value in values:
            if isinstance(value, float) and not math.isfinite(value):
                yield f"{where}.{name}: {value!r} is not a finite number"
        if name == "kind":
            yield from (f"{where}.kind: unknown kind {v!r}" for v in values if v not in FACT_KINDS)
        if name == "class":
            for value in values:
                value_set = terminology.value_sets.get(str(value))
                if value_set is None:
                    yield f"{where}.class: unknown value set {value!r}"
                else:
                    kinds = pattern.get("kind")
                    for kind in kinds if isinstance(kinds, list) else [kinds]:
                        if kind not in value_set.applies_to:
                            applies = ", ".join(value_set.applies_to)
                            yield f"{where}.class: value set {value!r} classifies {applies}, not {kind}"


def _lint_template(where: str, text: str, aliases: set[str]) -> Iterator[str]:
    try:
        fields = [name for _, name, _, _ in string.Formatter().parse(text) if name is not None]
    except ValueError as exc:
        yield f"{where}: malformed template ({exc})"
        return
    for name in fields:
        alias, _, attribute = name.partition(".")
        if alias not in aliases or (attribute and attribute not in TEMPLATE_ATTRIBUTES):
            known = ", ".join(sorted(aliases))
            yield f"{where}: template field {{{name}}} cannot be rendered (aliases: {known})"


def _lint_wording(rule: Rule) -> Iterator[str]:
    """Card wording must not claim more than the evidence grade supports."""
    if rule.evidence.grade in _INFO_ONLY_GRADES and rule.indicator != "info":
        yield f"indicator: {rule.evidence.grade} evidence carries an info card, not {rule.indicator}"
    if rule.evidence.grade == "observational" and rule.indicator == "critical":
        yield f"indicator: {rule.evidence.grade} evidence cannot carry a critical card"
    if rule.evidence.grade not in _STRONG_GRADES:
        for field_name, text in rule.card.texts().items():
            lowered = text.lower()
            if "contraindicat" in lowered and "not a contraindication" not in lowered:
                yield f"card.{field_name}: says contraindication, but the evidence is {rule.evidence.grade}"
    if rule.evidence.grade == "preclinical":
        texts = " ".join(rule.card.texts().values()).lower()
        if "preclinical" not in texts and "mouse" not in texts and "mice" not in texts:
            yield "card: preclinical evidence must be named as such in the card text"
