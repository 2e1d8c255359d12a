"""A copy of the built-in rules with one rule's lifecycle status changed, as a committee would."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from conftest import ROOT

PPI_RULE = "proton-pump-inhibitor-with-checkpoint-inhibitor"
PPI_SAMPLE = ROOT / "fhir_samples" / "atc-hierarchy-l01ff12-serplulimab-ppi-order-select"


def rules_with_status(target: Path, rule_id: str, status: str) -> Path:
    """Copy rules/ to `target` and give `rule_id` `status`, recorded with a reviewer and a date."""
    shutil.copytree(ROOT / "rules", target)
    path = target / "rules" / f"{rule_id}.yaml"
    data = yaml.safe_load(path.read_text())
    data["status"] = status
    data["status_history"] = [
        {"status": status, "date": "2026-11-01", "reviewer": "CDS committee (test)", "note": "trial"}
    ]
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return target
