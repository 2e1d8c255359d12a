"""The golden cases offered on the pages: which samples there are, what each is called, and which rules
each one should or should not fire (read once per folder: the samples ship with the service)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import orjson


@lru_cache(maxsize=4)
def samples(directory: Path | None) -> tuple[str, ...]:
    """Golden case names (directories holding a request.json), sorted; not the R5 ones, since the
    service reads FHIR R4."""
    if directory is None or not directory.is_dir():
        return ()
    return tuple(
        sorted(
            p.name
            for p in directory.iterdir()
            if (p / "request.json").is_file() and not _is_r5(p / "expected.json")
        )
    )


def _is_r5(expected: Path) -> bool:
    try:
        return bool(orjson.loads(expected.read_bytes()).get("fhir_version") == "R5")
    except (OSError, orjson.JSONDecodeError, AttributeError):
        return False


@lru_cache(maxsize=4)
def golden_cases_by_rule(directory: Path | None) -> dict[str, list[tuple[str, bool]]]:
    """rule id -> [(case name, expected to fire)] from the golden cases' expected.json files; read
    once per directory (the samples ship with the service and do not change while it runs)."""
    found: dict[str, list[tuple[str, bool]]] = {}
    if directory is None or not directory.is_dir():
        return found
    for expected_file in sorted(directory.glob("*/expected.json")):
        try:
            expected = orjson.loads(expected_file.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            continue
        name = expected_file.parent.name
        for card in expected.get("cards", []):
            found.setdefault(str(card.get("rule")), []).append((name, True))
        negative = expected.get("negative_for")
        for rule in [negative] if isinstance(negative, str) else negative or []:
            found.setdefault(str(rule), []).append((name, False))
    return found


@lru_cache(maxsize=4096)
def sample_title(directory: Path, name: str) -> str:
    """A readable title: the first heading of the sample's NOTES.md, else its folder name."""
    try:
        with (directory / name / "NOTES.md").open(encoding="utf-8") as handle:
            first = handle.readline().strip()
    except OSError:
        return name
    return first.lstrip("#").strip() or name
