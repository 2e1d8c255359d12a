"""Imports follow the data flow of the design: stages import only stages below them, no import circle,
and one module owns each I/O library."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import mdrcds

PACKAGE = Path(mdrcds.__file__).parent

# The stages in data-flow order (docs/architecture.md); a module may import its own stage or a lower one.
LAYERS: list[set[str]] = [
    {"errors", "settings"},  # shared by every stage
    {"knowledge"},
    {"reading"},
    {"facts"},
    {"reasoning"},
    {"cards"},
    {"service"},  # one evaluation: reading -> facts -> reasoning -> cards
    {"store"},
    {"research"},
    {"web"},
    {"cli", "__main__", "__init__"},  # entry points
]
TOP_LEVEL_MODULES = {"__init__", "__main__", "cli", "service", "settings", "errors"}

OWNERS = {
    "fhir.resources": {"reading.fhir"},
    "durable": {"reasoning.engine"},
    "msgspec": {"reading.fhir"},
    "simdjson": {"reading.fhir"},
    "sqlmodel": {"store.database", "store.tables"},
    "sqlalchemy": {"store.database", "store.tables"},
    "alembic": {"store.database"},
    "fastapi": {"web.app", "web.pages", "web.routing"},  # routing: the route class the app uses
    "jwt": {"web.auth"},
    "uvicorn": {"cli", "web.connections"},
    "httptools": {"web.connections"},
    "yaml": {"knowledge.yamlfile"},
    "medspacy": {"facts.context"},
    "spacy": {"facts.context"},
    "simple_icd_10_cm": {"knowledge.icd10cm"},
    "weaver": {"facts.hgvs"},
}
FORBIDDEN_IN_PURE = ("fastapi", "sqlmodel", "httpx", "sqlalchemy", "mdrcds.reasoning.engine")
PURE_STAGES = {"knowledge", "facts", "cards"}
PURE_MODULES = {"reasoning.findings"}


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE).with_suffix("").parts)


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts)
NAMES = {module_name(p): p for p in MODULES}


def imports_of(path: Path) -> set[str]:
    """Every module named by an import anywhere in the file (inside functions and TYPE_CHECKING too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def internal_imports(path: Path) -> set[str]:
    """The mdrcds modules a file imports, as names relative to the package ('reading.fhir')."""
    found = set()
    for name in imports_of(path):
        if name.startswith("mdrcds."):
            relative = name.removeprefix("mdrcds.")
            while relative and relative not in NAMES:
                relative = relative.rpartition(".")[0]
            if relative:
                found.add(relative)
        elif name == "mdrcds":
            found.add("__init__")
    found.discard(module_name(path))
    return found


def stage_of(name: str) -> str:
    return name.split(".")[0]


def layer_of(name: str) -> int:
    stage = stage_of(name)
    for index, layer in enumerate(LAYERS):
        if stage in layer:
            return index
    raise AssertionError(f"{name}: its stage {stage!r} is in no layer of LAYERS")


@pytest.mark.parametrize("name", sorted(NAMES))
def test_imports_run_with_the_flow(name: str) -> None:
    path = NAMES[name]
    against = sorted(other for other in internal_imports(path) if layer_of(other) > layer_of(name))
    assert against == [], f"{name} (layer {layer_of(name)}) imports higher stages: {against}"


@pytest.mark.parametrize("name", sorted(NAMES))
def test_each_io_library_has_one_owner(name: str) -> None:
    imported = imports_of(NAMES[name])
    for library, owners in OWNERS.items():
        if any(i == library or i.startswith(library + ".") for i in imported):
            assert name in owners, f"{name} imports {library}"
    if stage_of(name) in PURE_STAGES or name in PURE_MODULES:
        assert not any(i.startswith(FORBIDDEN_IN_PURE) for i in imported), f"{name} is pure"


def test_there_is_no_import_circle() -> None:
    graph = {name: internal_imports(path) - {"__init__"} for name, path in NAMES.items()}
    # A package's __init__ importing its own modules is how a package is made, not a circle.
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, set())):
            if state.get(nxt) == 1:
                raise AssertionError("import circle: " + " -> ".join([*stack[stack.index(nxt) :], nxt]))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)


def test_the_top_level_holds_entry_points_and_shared_modules_only() -> None:
    top = {p.stem for p in PACKAGE.glob("*.py")}
    assert top <= TOP_LEVEL_MODULES and len(top) <= 8, sorted(top)
    stages = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert stages == set().union(*LAYERS) - TOP_LEVEL_MODULES, sorted(stages)


@pytest.mark.parametrize("stage", sorted(set().union(*LAYERS) - TOP_LEVEL_MODULES))
def test_every_stage_says_what_it_takes_and_hands_on(stage: str) -> None:
    docstring = ast.get_docstring(ast.parse((PACKAGE / stage / "__init__.py").read_text())) or ""
    words = " ".join(docstring.lower().split())
    assert "takes in" in words and "hands on" in words, stage


def test_fhir_resources_is_imported_lazily_by_name() -> None:
    # reading/fhir.py loads the FHIR model package by name, so the static check above cannot see it.
    assert '"fhir.resources.R4B"' in (PACKAGE / "reading" / "fhir.py").read_text()
