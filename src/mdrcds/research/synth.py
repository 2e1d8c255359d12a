"""A synthetic oncology cohort with planted rule patterns and a ground truth (`mdrcds synth`).

Each patient is one template, re-identified: a patient-view golden case of fhir_samples/ (cancers,
checkpoint-inhibitor and chemotherapy orders, administrations and dispenses, comorbid drugs,
conditions in ICD-10-CM and SNOMED CT, genomic reports in the Genomics Reporting shape, each in the
record shapes EHRs send). With probability `prevalence` per rule, a patient gets a template in which
that rule fires (its pattern is planted); otherwise a template in which no rule fires (a near miss of
some rule). The ground truth of a patient is its template's expected cards, written by people in the
golden case, not computed by the pipeline. Patient and resource ids are distinct across the cohort, and
the output depends only on the seed, the templates and N.

This is a test of the pipeline at scale (reading, facts, engine, outputs, fired versus planted), not a
clinical validation: the patterns are the golden cases' own, and the prevalences are chosen, not
observed.
"""

from __future__ import annotations

import csv
import random
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import orjson

TOKEN = "@@SYNTH@@"
"""Stands for the patient's id prefix in a template's serialised resources."""
COHORT_FILE = "cohort.json"
TRUTH_FILE = "ground-truth.csv"
Layout = Literal["ndjson", "bundles"]


@dataclass(frozen=True)
class Template:
    """One golden case made re-identifiable: its resources as JSON with TOKEN in every id."""

    name: str
    patient_id: str
    """The case's own patient id; a cohort patient's id is its prefix followed by this."""
    rules: tuple[str, ...]
    """The rules its expected.json says fire (empty for a negative case)."""
    resources: tuple[tuple[str, bytes], ...]
    """(resource type, serialised resource) pairs."""

    def for_patient(self, prefix: str) -> list[tuple[str, bytes]]:
        token = TOKEN.encode()
        return [(kind, data.replace(token, prefix.encode())) for kind, data in self.resources]


def load_templates(samples: Path, now: str) -> tuple[dict[str, list[Template]], list[Template]]:
    """(rule -> templates in which only that rule fires, templates in which no rule fires), from the
    patient-view golden cases evaluated at `now`."""
    planted: dict[str, list[Template]] = {}
    quiet: list[Template] = []
    for expected_file in sorted(samples.glob("*/expected.json")):
        expected = orjson.loads(expected_file.read_bytes())
        raw = expected_file.with_name("request.json").read_bytes()
        request = orjson.loads(raw)
        # A case whose resources refer to each other by Bundle fullUrl (urn:uuid:) cannot be written as
        # a Bulk export, which has no fullUrls; it is left out of the templates.
        if request.get("hook") != "patient-view" or expected.get("now") != now or b'"urn:uuid:' in raw:
            continue
        rules = tuple(sorted({str(card["rule"]) for card in expected.get("cards", [])}))
        template = _template(expected_file.parent.name, rules, request)
        if not rules:
            quiet.append(template)
        elif len(rules) == 1:
            planted.setdefault(rules[0], []).append(template)
    return planted, quiet


def _template(name: str, rules: tuple[str, ...], request: dict[str, Any]) -> Template:
    patient_id = str(request.get("context", {}).get("patientId", ""))
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for value in request.get("prefetch", {}).values():
        if not isinstance(value, dict):
            continue
        items = (
            [e.get("resource") for e in value.get("entry", [])]
            if value.get("resourceType") == "Bundle"
            else [value]
        )
        for resource in items:
            if isinstance(resource, dict) and resource.get("resourceType") and resource.get("id"):
                found[(str(resource["resourceType"]), str(resource["id"]))] = resource
    ids = {f"{kind}/{rid}" for kind, rid in found}
    resources = []
    for (kind, _), resource in sorted(found.items()):
        renamed = _renamed(resource, ids)
        resources.append((kind, orjson.dumps(renamed)))
    return Template(name, patient_id, rules, tuple(resources))


def _renamed(value: Any, ids: set[str]) -> Any:
    """The resource with its id and every reference to a resource of the case given the TOKEN prefix."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if key == "id" and isinstance(item, str) and "resourceType" in value:
                out[key] = TOKEN + item
            elif key == "reference" and isinstance(item, str) and item in ids:
                kind, rid = item.split("/", 1)
                out[key] = f"{kind}/{TOKEN}{rid}"
            else:
                out[key] = _renamed(item, ids)
        return out
    if isinstance(value, list):
        return [_renamed(item, ids) for item in value]
    return value


@dataclass(frozen=True)
class PatientPlan:
    prefix: str
    template: Template
    planted: str | None

    @property
    def patient_id(self) -> str:
        return self.prefix + self.template.patient_id


def plan(
    count: int, seed: int, prevalence: float, planted: dict[str, list[Template]], quiet: list[Template]
) -> Iterator[PatientPlan]:
    """Which template each patient gets: each rule planted with probability `prevalence`."""
    if not quiet:
        raise ValueError("no template in which no rule fires: cannot make background patients")
    rules = sorted(planted)
    if prevalence * len(rules) > 1:
        raise ValueError(
            f"prevalence {prevalence} for {len(rules)} rules is more than one pattern per patient"
        )
    rng = random.Random(seed)
    for index in range(count):
        draw = rng.random()
        chosen = int(draw / prevalence) if prevalence > 0 else len(rules)
        prefix = f"s{seed}-{index:07d}-"
        if chosen < len(rules):
            rule = rules[chosen]
            yield PatientPlan(prefix, rng.choice(planted[rule]), rule)
        else:
            yield PatientPlan(prefix, rng.choice(quiet), None)


def write_cohort(
    out: Path,
    count: int,
    *,
    seed: int,
    prevalence: float,
    samples: Path,
    now: str,
    layout: Layout = "ndjson",
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Write `count` patients to `out` (Bulk NDJSON, one file per resource type, or one Bundle per
    patient), the ground truth and cohort.json; returns cohort.json's content."""
    planted, quiet = load_templates(samples, now)
    out.mkdir(parents=True, exist_ok=True)
    truth_rows: list[tuple[str, str, str, str]] = []
    counts: Counter[str] = Counter()
    handles: dict[str, Any] = {}
    try:
        for number, patient in enumerate(plan(count, seed, prevalence, planted, quiet), 1):
            resources = patient.template.for_patient(patient.prefix)
            if layout == "ndjson":
                for kind, data in resources:
                    if kind not in handles:
                        handles[kind] = (out / f"{kind}.ndjson").open("wb")
                    handles[kind].write(data + b"\n")
            else:
                entries = b",".join(b'{"resource":' + data + b"}" for _, data in resources)
                (out / f"{patient.patient_id}.json").write_bytes(
                    b'{"resourceType":"Bundle","type":"collection","entry":[' + entries + b"]}"
                )
            expected = ";".join(patient.template.rules)
            truth_rows.append((patient.patient_id, patient.template.name, patient.planted or "", expected))
            counts.update(patient.template.rules)
            if progress:
                progress(number)
    finally:
        for handle in handles.values():
            handle.close()
    with (out / TRUTH_FILE).open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["patient", "template", "planted_rule", "expected_rules"])
        writer.writerows(truth_rows)
    document = {
        "patients": count,
        "seed": seed,
        "prevalence_per_rule": prevalence,
        "now": now,
        "layout": layout,
        "templates": {
            "planted": {rule: len(t) for rule, t in sorted(planted.items())},
            "background": len(quiet),
        },
        "expected_patients_per_rule": dict(sorted(counts.items())),
        "note": (
            "A test of the pipeline at scale, not clinical validation: each patient is a re-identified "
            "golden case, and the prevalences are chosen, not observed. Evaluate with "
            f"`mdrcds batch COHORT_DIR --out RESULTS --now {now}`."
        ),
    }
    (out / COHORT_FILE).write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n")
    return document


def read_truth(directory: Path) -> dict[str, set[str]] | None:
    """patient id -> the rules expected to fire, from a cohort's ground-truth.csv (None if absent)."""
    path = directory / TRUTH_FILE
    if not path.is_file():
        return None
    with path.open(newline="") as handle:
        return {
            row["patient"]: set(filter(None, row["expected_rules"].split(";")))
            for row in csv.DictReader(handle)
        }
