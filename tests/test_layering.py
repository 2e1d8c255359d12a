"""Imports follow the data flow of the design: one module owns each I/O library."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import mdrcds

PACKAGE = Path(mdrcds.__file__).parent
OWNERS = {
    "fhir.resources": {"fhir"},
    "durable": {"engine"},
    "msgspec": {"fhir"},
    "simdjson": {"fhir"},
    "sqlmodel": {"store", "tables"},
    "sqlalchemy": {"store", "tables"},
    "alembic": {"store"},
    "fastapi": {"web.app", "web.pages"},
    "jwt": {"auth"},
    "uvicorn": {"cli"},
}
FORBIDDEN_EVERYWHERE = ("fastapi", "sqlmodel", "httpx", "sqlalchemy")
PURE = {
    # the fact package (by module stem)
    "builder",
    "model",
    "exposure",
    "dose",
    "conditions",
    "genomics",
    "derived",
    "fhirjson",
    # knowledge and cards
    "terminology",
    "products",
    "rulebook",
    "ruleschema",
    "findings",
    "citations",
    "cards",
    "detectedissue",
    "knowledge_export",
}


def imports_of(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts)


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE).with_suffix("").parts)


@pytest.mark.parametrize("path", MODULES, ids=[module_name(p) for p in MODULES])
def test_imports(path: Path) -> None:
    imported = imports_of(path)
    for library, owners in OWNERS.items():
        if any(name == library or name.startswith(library + ".") for name in imported):
            assert module_name(path) in owners, f"{module_name(path)} imports {library}"
    if path.stem in PURE:
        assert not any(name.startswith(FORBIDDEN_EVERYWHERE) for name in imported)
        assert "mdrcds.engine" not in imported, f"{path.stem} imports the engine"


def test_every_pure_module_exists() -> None:
    stems = {path.stem for path in MODULES}
    assert stems >= PURE, f"PURE names modules that do not exist: {sorted(PURE - stems)}"


def test_fhir_resources_is_imported_lazily_by_name() -> None:
    # fhir.py loads the FHIR model package by name, so the static check above cannot see it.
    assert '"fhir.resources.R4B"' in (PACKAGE / "fhir.py").read_text()
