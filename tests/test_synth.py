"""The synthetic oncology cohort (`mdrcds synth`): deterministic, distinct ids, each rule planted near its
stated prevalence, and `batch` over it finds every planted pattern and nothing else."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from conftest import SAMPLES
from mdrcds.cli import main
from mdrcds.knowledge.rulebook import load_rulebook
from mdrcds.research.synth import Layout, read_truth, write_cohort

NOW = "2026-11-23"


def cohort(
    out: Path, patients: int, seed: int, prevalence: float = 0.02, layout: Layout = "ndjson"
) -> dict[str, object]:
    return write_cohort(
        out, patients, seed=seed, prevalence=prevalence, samples=SAMPLES, now=NOW, layout=layout
    )


def files(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir())}


def test_the_same_seed_gives_the_same_cohort_and_another_seed_another(tmp_path: Path) -> None:
    cohort(tmp_path / "a", 300, seed=5)
    cohort(tmp_path / "b", 300, seed=5)
    cohort(tmp_path / "c", 300, seed=6)
    assert files(tmp_path / "a") == files(tmp_path / "b")
    assert files(tmp_path / "a")["ground-truth.csv"] != files(tmp_path / "c")["ground-truth.csv"]


def test_ids_are_distinct_and_every_rule_is_planted_near_its_prevalence(tmp_path: Path) -> None:
    patients, prevalence = 6000, 0.03
    cohort(tmp_path, patients, seed=11, prevalence=prevalence)
    ids = [json.loads(line)["id"] for line in (tmp_path / "Patient.ndjson").read_text().splitlines()]
    assert len(ids) == len(set(ids)) == patients
    for kind in ("MedicationRequest", "Observation", "Condition"):
        resource_ids = [
            json.loads(line)["id"] for line in (tmp_path / f"{kind}.ndjson").read_text().splitlines()
        ]
        assert len(resource_ids) == len(set(resource_ids)), kind
    with (tmp_path / "ground-truth.csv").open() as handle:
        planted = [row["planted_rule"] for row in csv.DictReader(handle)]
    rules = {rule.id for rule in load_rulebook().rules}
    expected = patients * prevalence  # 180; binomial sd about 13
    for rule in rules:
        assert abs(planted.count(rule) - expected) < 5 * (expected**0.5), rule


@pytest.mark.parametrize("layout", ["ndjson", "bundles"])
def test_batch_over_the_cohort_fires_exactly_what_was_planted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], layout: str
) -> None:
    assert (
        main(
            [
                "synth",
                "--patients",
                "400",
                "--seed",
                "2",
                "--out",
                str(tmp_path / "cohort"),
                "--layout",
                layout,
                "-q",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "batch",
                str(tmp_path / "cohort"),
                "--out",
                str(tmp_path / "out"),
                "--now",
                NOW,
                "--workers",
                "1",
                "-q",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "fired versus planted" in out and "400 patients" in out
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    rows = summary["ground_truth"]["rules"]
    truth = read_truth(tmp_path / "cohort")
    assert truth is not None and len(truth) == 400
    assert sum(row["planted"] for row in rows.values()) > 0
    for rule, row in rows.items():
        assert row["fired_not_planted"] == 0 and row["planted_not_fired"] == 0, (rule, row)
