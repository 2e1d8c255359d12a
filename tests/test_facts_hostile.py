"""The fact readers on hostile variants of realistic records: every node of the prefetch resources of
some golden cases replaced by odd values. An evaluation returns cards or raises an InputError; it never
raises anything else (the web layer turns InputError into a 4xx)."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest

from conftest import SAMPLES
from json_mutation import paths, replaced
from mdrcds.errors import InputError
from mdrcds.knowledge.rulebook import Rulebook
from mdrcds.reasoning.engine import Engine
from mdrcds.service import evaluate

CASES = [
    "dose-prednisone-tablet-strength-bid-order-sign",
    "dose-mg-per-kg-with-body-weight",
    "exposure-course-bounds-duration-running",
    "exposure-amiodarone-stopped-2-weeks-ago-digoxin-patient-view",
    "genomic-implication-linked-by-urn-uuid",
    "genomic-loss-from-molecular-consequence-observation",
    "condition-autoimmune-unknown-onset-says-so",
    "dose-administrations-nine-day-course",
]
ODD_VALUES: list[Any] = [None, 1e308, -1, True, "x", [], {}, [{}], {"coding": 5}]


@pytest.mark.parametrize("case", CASES)
def test_odd_values_anywhere_in_the_record(case: str, rulebook: Rulebook, engine: Engine) -> None:
    request = json.loads((SAMPLES / case / "request.json").read_text())
    data_paths = [p for p in paths(request) if p[0] == "prefetch" and len(p) > 3]
    assert len(data_paths) > 20
    evaluated = 0
    for path in data_paths:
        for value in ODD_VALUES:
            try:
                evaluate(
                    replaced(request, path, value), rulebook=rulebook, engine=engine, now=date(2026, 11, 23)
                )
                evaluated += 1
            except InputError:
                pass
    assert evaluated > 0
