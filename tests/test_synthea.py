"""The Synthea bundles (real-world-shaped records written by others) evaluate cleanly, and nothing
fires that a clinician reading the record would call wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import NOW, SAMPLES
from mdrcds.knowledge.rulebook import Rulebook
from mdrcds.reasoning.engine import Engine
from mdrcds.service import evaluate

BUNDLES = sorted((SAMPLES / "synthea").glob("*.json"))


def test_licence_note_travels_with_the_data() -> None:
    assert "Apache-2.0" in (SAMPLES / "synthea" / "SOURCES.md").read_text()
    assert len(BUNDLES) == 6


@pytest.mark.parametrize("path", BUNDLES, ids=[p.name.split("_")[0] for p in BUNDLES])
def test_synthea_bundle_evaluates_without_cards(path: Path, rulebook: Rulebook, engine: Engine) -> None:
    evaluation = evaluate(path.read_bytes(), rulebook=rulebook, engine=engine, now=NOW, source=path.name)
    assert evaluation.patient_id
    # None of these records holds a current P-gp inhibitor together with an immunotherapy or a
    # P-gp-substrate anticancer drug (Keira's amiodarone is stopped; Ali's docetaxel has no inhibitor).
    assert evaluation.cards == []


def test_product_codes_in_synthea_are_recognised_by_their_verified_code(
    rulebook: Rulebook, engine: Engine
) -> None:
    [ali] = [p for p in BUNDLES if p.name.startswith("Ali_Herman")]
    evaluation = evaluate(ali.read_bytes(), rulebook=rulebook, engine=engine, now=NOW)
    [docetaxel] = [f for f in evaluation.facts.facts if f.value_set == "pgp-substrate-chemotherapy"]
    # 1860480 '1 ML DOCEtaxel 20 MG/ML Injection' is in the verified product map (products.csv).
    assert (docetaxel.member, docetaxel.matched_by, docetaxel.matched_code) == (
        "docetaxel",
        "code",
        "rxnorm 1860480",
    )
    assert docetaxel.current
    [keira] = [p for p in BUNDLES if p.name.startswith("Keira_Huel")]
    amiodarone = evaluate(keira.read_bytes(), rulebook=rulebook, engine=engine, now=NOW).facts.facts
    assert [(f.member, f.status, f.current) for f in amiodarone] == [("amiodarone", "stopped", False)]
