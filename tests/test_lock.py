"""The committed lock file pins every dependency pyproject.toml names (scripts/bootstrap installs it)."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib

from conftest import ROOT


def names(requirements: list[str]) -> set[str]:
    return {
        re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0].strip().lower().replace("_", "-") for r in requirements
    }


def test_the_lock_pins_every_declared_dependency_exactly() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = names(project["dependencies"])
    for requirements in project["optional-dependencies"].values():
        declared |= names(requirements) - {"mdrcds"}
    lines = [line.strip() for line in (ROOT / "requirements.lock").read_text().splitlines() if line.strip()]
    assert all("==" in line for line in lines), "every lock line is an exact pin"
    locked = {line.split("==")[0].lower().replace("_", "-") for line in lines}
    assert declared <= locked, f"not locked: {sorted(declared - locked)}"
    assert "-r requirements.lock" in (ROOT / "scripts" / "bootstrap").read_text()


def test_the_build_compiles_against_the_pysimdjson_the_runtime_runs() -> None:
    """mdrcds.reading._learnt reads pysimdjson's objects through their C layout and is compiled with the
    simdjson sources pysimdjson ships (setup.py): the build requirement, the dependency and the lock name
    one release."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pinned = f"pysimdjson=={pins('requirements.lock')['pysimdjson']}"
    assert pinned in pyproject["build-system"]["requires"]
    assert pinned in pyproject["project"]["dependencies"]


def pins(name: str) -> dict[str, str]:
    lines = [line.strip() for line in (ROOT / name).read_text().splitlines() if line.strip()]
    assert all("==" in line for line in lines), f"every {name} line is an exact pin"
    return {line.split("==")[0].lower().replace("_", "-"): line.split("==")[1] for line in lines}


BUILD_ONLY = {"cython", "maturin", "pytest", "iniconfig", "pluggy", "setuptools"}
"""Declared as runtime dependencies by some packages (PyRuSH, quicksectx, hgvs-weaver, medspacy-quickumls,
spaCy) but used only to build them: the runtime lock leaves them out (scripts/bootstrap --runtime
installs it with --no-deps), and test_the_runtime_imports_need_no_build_tool checks none is imported."""


def test_the_runtime_lock_is_the_full_lock_without_the_extras() -> None:
    """scripts/demo installs requirements-runtime.lock only (no dev tools, Spark, browser driver, Parquet
    or PostgreSQL driver): the same versions as the full lock, every runtime dependency, none of the
    extras, and no build-only tool."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime, full = pins("requirements-runtime.lock"), pins("requirements.lock")
    assert {name: full.get(name) for name in runtime} == runtime
    assert names(project["dependencies"]) <= set(runtime)
    for extra, requirements in project["optional-dependencies"].items():
        extras = names(requirements) - names(project["dependencies"]) - {"mdrcds"}
        assert not extras & set(runtime), extra
    assert not BUILD_ONLY & set(runtime)
    assert "--runtime" in (ROOT / "scripts" / "demo").read_text()
    assert "--no-deps" in (ROOT / "scripts" / "bootstrap").read_text()


def test_the_runtime_imports_need_no_build_tool() -> None:
    """Evaluating (with medspaCy's ConText loaded), building the service and linting work with every
    build-only package and every optional extra made unimportable: what the runtime lock leaves out is
    never needed (pydantic tries `import cython` and goes on without it)."""
    blocked = ["cython", "Cython", "maturin", "pytest", "_pytest", "setuptools", "pkg_resources"]
    blocked += ["pyarrow", "psycopg", "pyspark", "pandas", "playwright"]
    code = (
        "import sys\n"
        f"sys.modules.update(dict.fromkeys({blocked!r}))\n"
        "from mdrcds.facts import context\n"
        "context.preload()\n"
        "assert context.voiding_context(['no history of verapamil use'], ['verapamil'])\n"
        "from mdrcds.cli import main\n"
        "from mdrcds.web.app import create_app\n"
        "from mdrcds.knowledge.rulebook import check_rulebook\n"
        "assert not check_rulebook()\n"
        "assert main(['evaluate', 'fhir_samples/mdr1-pembrolizumab-verapamil-order-select/request.json']) == 0\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "1 card" in result.stdout
