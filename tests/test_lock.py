"""The committed lock file pins every dependency pyproject.toml names (scripts/bootstrap installs it)."""

from __future__ import annotations

import re
import tomllib

from conftest import ROOT


def names(requirements: list[str]) -> set[str]:
    return {
        re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0].strip().lower().replace("_", "-") for r in requirements
    }


def test_the_lock_pins_every_declared_dependency_exactly() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = names(project["dependencies"])
    for extra in ("dev", "spark"):
        declared |= names(project["optional-dependencies"][extra])
    lines = [line.strip() for line in (ROOT / "requirements.lock").read_text().splitlines() if line.strip()]
    assert all("==" in line for line in lines), "every lock line is an exact pin"
    locked = {line.split("==")[0].lower().replace("_", "-") for line in lines}
    assert declared <= locked, f"not locked: {sorted(declared - locked)}"
    assert "-r requirements.lock" in (ROOT / "scripts" / "bootstrap").read_text()
