"""Time and peak memory against record size: one patient's Bundle of 1k, 5k and 20k resources.

    .venv/bin/python benchmarks/scale.py [--sizes 1000 5000 20000] [--repeat 5]

Each size runs in a fresh Python process (so its peak RSS is its own): it builds the rulebook and the
engine, then evaluates the same Bundle `--repeat` times on its raw bytes (patient-view) and reports the
median time, the peak RSS of the process, and both per 1,000 resources. The Bundle is a Synthea-shaped
mix: per 100 resources 30 Observations, 20 Claims, 15 Encounters, 15 MedicationRequests, 10 Conditions,
10 Procedures, none of which any rule flags, plus the same two current orders in every size (verapamil
and pembrolizumab started 3 days before "now", so the MDR1 card fires once). A long record grows in
history, not in interacting drugs: with N interacting orders a two-pattern rule has N x N matches,
which is what the per-call match limit is for. Linear scaling shows as flat per-1,000 columns.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from datetime import date
from typing import Any

PATIENT = {"reference": "Patient/scale-1"}


def bundle(size: int) -> bytes:
    """A one-patient collection Bundle of `size` resources plus the Patient."""
    entries: list[dict[str, Any]] = [{"resource": {"resourceType": "Patient", "id": "scale-1"}}]
    for number in range(size):
        slot = number % 100
        identifier = f"r{number}"
        item: dict[str, Any]
        if slot < 30:
            item = {
                "resourceType": "Observation",
                "status": "final",
                "code": {
                    "coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}]
                },
                "effectiveDateTime": "2026-10-01",
                "valueQuantity": {"value": 70 + slot, "unit": "/min"},
            }
        elif slot < 50:
            item = {
                "resourceType": "Claim",
                "status": "active",
                "use": "claim",
                "item": [{"sequence": n, "productOrService": {"text": f"service {n}"}} for n in range(1, 6)],
            }
        elif slot < 65:
            item = {"resourceType": "Encounter", "status": "finished", "class": {"code": "AMB"}}
        elif slot < 80:
            item = {
                "resourceType": "MedicationRequest",
                "status": "completed",
                "intent": "order",
                "medicationCodeableConcept": {"text": "acetaminophen 500 mg oral tablet"},
                "authoredOn": "2026-01-01",
            }
        elif slot < 90:
            item = {
                "resourceType": "Condition",
                "code": {
                    "coding": [
                        {"system": "http://snomed.info/sct", "code": "38341003", "display": "Hypertension"}
                    ]
                },
            }
        else:
            item = {"resourceType": "Procedure", "status": "completed", "code": {"text": "Chest X-ray"}}
        item["id"] = identifier
        if item["resourceType"] != "Claim":
            item["subject"] = PATIENT
        else:
            item["patient"] = PATIENT
        entries.append({"fullUrl": f"urn:uuid:{identifier}", "resource": item})
    for identifier, name in (
        ("verapamil", "verapamil 120 mg oral tablet"),
        ("pembro", "pembrolizumab 25 MG/ML"),
    ):
        order = {
            "resourceType": "MedicationRequest",
            "id": identifier,
            "status": "active",
            "intent": "order",
            "medicationCodeableConcept": {"text": name},
            "subject": PATIENT,
            "authoredOn": "2026-11-20",
        }
        entries.append({"resource": order})
    return json.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries}).encode()


def measure(size: int, repeat: int) -> dict[str, float]:
    """In this process: median evaluation time and peak RSS for a Bundle of `size` resources."""
    from mdrcds import evaluate, load_rulebook
    from mdrcds.reasoning.engine import Engine

    rulebook = load_rulebook()
    engine = Engine(rulebook)
    data = bundle(size)
    now = date(2026, 11, 23)
    evaluation = evaluate(data, rulebook=rulebook, engine=engine, now=now)
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        evaluate(data, rulebook=rulebook, engine=engine, now=now)
        times.append((time.perf_counter() - started) * 1000)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "size": size,
        "mb": len(data) / 1e6,
        "facts": len(evaluation.facts.facts),
        "cards": len(evaluation.cards),
        "ms": statistics.median(times),
        "peak_mb": peak_mb,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 20000])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(measure(args.one, args.repeat)))
        return
    print(f"python {platform.python_version()}; one process per size, patient-view, median of {args.repeat}")
    print(f"{'resources':>9} {'MB':>6} {'facts':>6} {'cards':>5} {'ms':>9} {'ms/1k':>7} {'peak MB':>8}")
    for size in args.sizes:
        out = subprocess.run(
            [sys.executable, __file__, "--one", str(size), "--repeat", str(args.repeat)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        row = json.loads(out)
        print(
            f"{size:>9} {row['mb']:>6.1f} {row['facts']:>6} {row['cards']:>5} {row['ms']:>9.1f} "
            f"{row['ms'] / size * 1000:>7.2f} {row['peak_mb']:>8.1f}"
        )


if __name__ == "__main__":
    main()
