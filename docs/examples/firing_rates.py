"""Firing rates per rule from a batch run's findings.parquet, with pandas.

    .venv/bin/python docs/examples/firing_rates.py results/            # after `mdrcds batch ... --out results`

Prints one line per rule: patients with a card, the share of the run's evaluated patients (from
summary.json), the evidence grade, and a text bar. With matplotlib installed it also writes
firing-rates.png beside the findings. A rate is how often a rule made a card, not a prevalence of harm.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd


def firing_rates(results: Path) -> pd.DataFrame:
    """Per rule: patients with a card, rate over evaluated patients, evidence grade."""
    findings = pd.read_parquet(results / "findings.parquet")
    evaluated = json.loads((results / "summary.json").read_text())["patients_evaluated"]
    table = (
        findings.groupby(["rule", "evidence"])["patient"]
        .nunique()
        .rename("patients")
        .reset_index()
        .sort_values(["patients", "rule"], ascending=[False, True])
    )
    table["rate"] = table["patients"] / max(evaluated, 1)
    return table


def main(results: Path) -> None:
    table = firing_rates(results)
    width = max((len(rule) for rule in table["rule"]), default=10)
    for row in table.itertuples():
        bar = "#" * max(1, round(50 * row.rate / max(table["rate"].max(), 1e-9)))
        print(f"{row.rule:<{width}}  {row.patients:>7,}  {row.rate:7.2%}  [{row.evidence}]  {bar}")
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        return
    axes = table.plot.barh(x="rule", y="rate", legend=False, figsize=(9, 0.35 * len(table) + 1))
    axes.invert_yaxis()
    axes.set_xlabel("share of evaluated patients with a card")
    plt.tight_layout()
    plt.savefig(results / "firing-rates.png")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "results"))
