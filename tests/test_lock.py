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


def pins(name: str) -> dict[str, str]:
    lines = [line.strip() for line in (ROOT / name).read_text().splitlines() if line.strip()]
    assert all("==" in line for line in lines), f"every {name} line is an exact pin"
    return {line.split("==")[0].lower().replace("_", "-"): line.split("==")[1] for line in lines}


def test_the_runtime_lock_is_the_full_lock_without_the_extras() -> None:
    """scripts/demo installs requirements-runtime.lock only (no dev tools, Spark or browser driver):
    the same versions as the full lock, every runtime dependency, and none of the extras."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime, full = pins("requirements-runtime.lock"), pins("requirements.lock")
    # pip freeze leaves out the packaging tools that the runtime lock, resolved by pip, names
    packaging = {"setuptools", "pip", "wheel"}
    assert {name: full.get(name) for name in runtime if name not in packaging} == {
        name: version for name, version in runtime.items() if name not in packaging
    }
    assert names(project["dependencies"]) <= set(runtime)
    for extra in ("dev", "spark"):
        extras = names(project["optional-dependencies"][extra]) - names(project["dependencies"])
        assert not extras & set(runtime) - {"pytest"}, "pytest stays: medspacy-quickumls needs it at runtime"
    assert "--runtime" in (ROOT / "scripts" / "demo").read_text()
