"""The rulebook as FHIR knowledge artifacts (pure): CPG-on-FHIR style PlanDefinitions, ValueSets and
a Library that ties them together with the rulebook version, all in one collection Bundle.

- each rule is a PlanDefinition (type eca-rule, as the HL7 PDDI CDS IG's PlanDefinitions): one action
  per card with a named-event trigger per hook, an applicability condition that describes the
  patterns in words, the card's texts, its suggestions as nested actions, and the citations as
  relatedArtifacts (label = citation key, with PMID and DOI). The evidence grade, indicator,
  seriousness, action and mode go in mdrcds extensions, since FHIR has no element for them;
- each value set is a ValueSet whose compose lists the verified codes by system (display = member);
  members matched by name only are listed as such in an extension and in the description;
- the Library (type asset-collection) depends on every PlanDefinition and ValueSet.

Build the resources with `mdrcds.reading.fhir.build_resource`, which validates them with the FHIR models;
`summarise` reads an exported Bundle back (for round-trip checks and for knowledge-management tools).
"""

from __future__ import annotations

from typing import Any

from mdrcds.knowledge.citations import Citation
from mdrcds.knowledge.rulebook import Rulebook
from mdrcds.knowledge.ruleschema import Pattern, Rule
from mdrcds.knowledge.terminology import SYSTEM_URIS, ValueSet

JsonObject = dict[str, Any]

BASE = "urn:mdrcds"
EXTENSION = "urn:mdrcds:StructureDefinition"
NAME_ONLY = f"{EXTENSION}/name-only-member"
# Code systems as published by HL7 (verified: plan-definition-type eca-rule in the HL7 PDDI CDS IG
# PlanDefinitions; library-type asset-collection on hl7.org/fhir/r4b/codesystem-library-type).
PLAN_DEFINITION_TYPE = "http://terminology.hl7.org/CodeSystem/plan-definition-type"
LIBRARY_TYPE = "http://terminology.hl7.org/CodeSystem/library-type"
_STATUS = {"clinical": "active", "research": "draft"}


def _publication_status(rule: Rule) -> str:
    # PlanDefinition.status is publication status: a retired rule is retired; a silent rule (evaluated
    # but never shown) is not yet in use for care, like a research rule.
    if rule.status == "retired":
        return "retired"
    return "draft" if rule.status == "silent" else _STATUS[rule.mode]


def plan_definition_url(rule_id: str) -> str:
    """The canonical URL of a rule's PlanDefinition."""
    return f"{BASE}:PlanDefinition:{rule_id}"


def value_set_url(value_set_id: str) -> str:
    """The canonical URL of a value set's ValueSet."""
    return f"{BASE}:ValueSet:{value_set_id}"


def export(rulebook: Rulebook) -> list[JsonObject]:
    """Every artifact, Library first, then PlanDefinitions and ValueSets, in a stable order."""
    plans = [plan_definition(rule, rulebook) for rule in rulebook.rules]
    value_sets = [
        value_set(vs) for vs in sorted(rulebook.terminology.value_sets.values(), key=lambda v: v.id)
    ]
    return [library(rulebook, plans, value_sets), *plans, *value_sets]


def bundle(resources: list[JsonObject]) -> JsonObject:
    """A collection Bundle of the artifacts, each with its canonical URL as fullUrl."""
    return {
        "resourceType": "Bundle",
        "id": "mdrcds-rulebook",
        "type": "collection",
        "entry": [{"fullUrl": r["url"], "resource": r} for r in resources],
    }


def library(rulebook: Rulebook, plans: list[JsonObject], value_sets: list[JsonObject]) -> JsonObject:
    """The Library that names the rulebook version and depends on every artifact."""
    return {
        "resourceType": "Library",
        "id": "mdrcds-rulebook",
        "url": f"{BASE}:Library:rulebook",
        "version": rulebook.version,
        "name": "MdrcdsRulebook",
        "title": rulebook.meta.name,
        "status": "active",
        "publisher": rulebook.meta.source_label,
        "type": {"coding": [{"system": LIBRARY_TYPE, "code": "asset-collection"}]},
        "description": (
            f"{rulebook.meta.name} {rulebook.version}: {len(plans)} rules and {len(value_sets)} value sets. "
            "The version's digest changes whenever a rule, value set, citation or product mapping changes."
        ),
        "relatedArtifact": [
            {"type": "depends-on", "display": r["title"], "resource": r["url"]} for r in [*plans, *value_sets]
        ],
    }


def plan_definition(rule: Rule, rulebook: Rulebook) -> JsonObject:
    """One rule as an eca-rule PlanDefinition."""
    card = rule.card
    return {
        "resourceType": "PlanDefinition",
        "id": rule.id,
        "url": plan_definition_url(rule.id),
        "version": rule.version,
        "name": _computable(rule.id),
        "title": rule.title,
        "type": {"coding": [{"system": PLAN_DEFINITION_TYPE, "code": "eca-rule", "display": "ECA Rule"}]},
        "status": _publication_status(rule),
        "date": rule.reviewed.isoformat(),
        "lastReviewDate": rule.reviewed.isoformat(),
        "publisher": rulebook.meta.source_label,
        "description": rule.evidence.summary.strip(),
        "purpose": f"{rule.category}: {rule.title}",
        "extension": [
            {"url": f"{EXTENSION}/evidence-grade", "valueCode": rule.evidence.grade},
            {"url": f"{EXTENSION}/indicator", "valueCode": rule.indicator},
            {"url": f"{EXTENSION}/seriousness", "valueString": rule.seriousness},
            {"url": f"{EXTENSION}/recommended-action", "valueCode": card.action},
            {"url": f"{EXTENSION}/mode", "valueCode": rule.mode},
            {"url": f"{EXTENSION}/lifecycle-status", "valueCode": rule.status},
        ],
        "library": [f"{BASE}:Library:rulebook"],
        "relatedArtifact": [_citation(key, rulebook.citations[key]) for key in rule.citations],
        "action": [
            {
                "title": card.summary,
                "description": (
                    f"Consequence. {card.consequence.strip()}\n\nMechanism. {card.mechanism.strip()}\n\n"
                    f"Recommendation. {card.recommendation.strip()}"
                ),
                "trigger": [{"type": "named-event", "name": hook} for hook in rule.hooks],
                "condition": [
                    {
                        "kind": "applicability",
                        "expression": {"language": "text/plain", "description": _conditions(rule)},
                    }
                ],
                "documentation": [_citation(key, rulebook.citations[key]) for key in rule.citations],
                "action": [
                    {"title": s.label, "description": f"Remove the draft order of {s.remove_draft}"}
                    for s in card.suggestions
                ],
            }
        ],
    }


def value_set(source: ValueSet) -> JsonObject:
    """One value set as a ValueSet: verified codes by system, name-only members listed as such."""
    by_system: dict[str, list[JsonObject]] = {}
    name_only: list[str] = []
    for member in source.members:
        if not member.codes:
            name_only.append(member.name)
        for code in member.codes:
            by_system.setdefault(SYSTEM_URIS[code.system], []).append(
                {"code": code.code, "display": member.name}
            )
    description = (source.definition or source.title) + (
        f". Matched by name only: {', '.join(name_only)}." if name_only else "."
    )
    resource: JsonObject = {
        "resourceType": "ValueSet",
        "id": source.id,
        "url": value_set_url(source.id),
        "name": _computable(source.id),
        "title": source.title,
        "status": "active",
        "description": description + (f" Source: {source.source}" if source.source else ""),
    }
    if name_only:
        resource["extension"] = [{"url": NAME_ONLY, "valueString": name} for name in name_only]
    if by_system:
        resource["compose"] = {
            "include": [
                {"system": system, "concept": _unique(concepts)} for system, concepts in by_system.items()
            ]
        }
    return resource


def summarise(exported: JsonObject) -> JsonObject:
    """What an exported Bundle says, read back: rule ids with their citation keys, hooks and grade,
    value-set codes by system, name-only members, and the rulebook version."""
    rules: JsonObject = {}
    value_sets: JsonObject = {}
    version = None
    for entry in exported.get("entry", []):
        resource = entry["resource"]
        kind = resource["resourceType"]
        if kind == "Library":
            version = resource.get("version")
        elif kind == "PlanDefinition":
            extensions = {
                e["url"].rsplit("/", 1)[-1]: next(v for k, v in e.items() if k.startswith("value"))
                for e in resource.get("extension", [])
            }
            rules[resource["id"]] = {
                "citations": [a["label"] for a in resource.get("relatedArtifact", [])],
                "hooks": [t["name"] for t in resource["action"][0]["trigger"]],
                "grade": extensions["evidence-grade"],
            }
        elif kind == "ValueSet":
            codes = sorted(
                (include["system"], concept["code"])
                for include in resource.get("compose", {}).get("include", [])
                for concept in include.get("concept", [])
            )
            names = [e["valueString"] for e in resource.get("extension", []) if e["url"] == NAME_ONLY]
            value_sets[resource["id"]] = {"codes": codes, "name_only": names}
    return {"version": version, "rules": rules, "value_sets": value_sets}


def _citation(key: str, citation: Citation) -> JsonObject:
    artifact: JsonObject = {"type": "citation", "label": key, "citation": citation.reference()}
    url = citation.primary_url()
    if url:
        artifact["url"] = url
    return artifact


def _conditions(rule: Rule) -> str:
    parts = [f"{alias}: {_pattern(pattern)}" for alias, pattern in rule.when.all.items()]
    for predicate in rule.when.where:
        parts.append(predicate.model_dump_json(exclude_none=True))
    return "All of: " + "; ".join(parts)


def _pattern(pattern: Pattern) -> str:
    return ", ".join(f"{name} {value}" for name, value in pattern.items())


def _computable(identifier: str) -> str:
    return "".join(part.capitalize() for part in identifier.replace("_", "-").split("-") if part)


def _unique(concepts: list[JsonObject]) -> list[JsonObject]:
    seen: dict[str, JsonObject] = {}
    for concept in concepts:
        seen.setdefault(concept["code"], concept)
    return list(seen.values())
