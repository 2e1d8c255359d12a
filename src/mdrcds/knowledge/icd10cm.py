"""ICD-10-CM validity, from the CMS release packaged by `simple-icd-10-cm` (the April 2026 code list and
tabular XML, `RELEASE`), for the rulebook linter.

Classification itself needs no release: ICD-10-CM's hierarchy is its codes' prefixes, so a member coded
with a category or subcategory (M05, M05.0) matches every code below it by prefix
(`mdrcds.knowledge.terminology`). What the release adds is the check that every ICD-10-CM code written
in a value set exists, and what it names, so that a typo cannot silently match nothing. Loading the
release takes about two seconds and 190 MB, so only `mdrcds rules check` and the tests do it, never an
evaluation.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from functools import cache
from types import ModuleType

RELEASE = "CMS ICD-10-CM April 2026 (FY2026 update), as packaged by simple-icd-10-cm 1.5.0"


@cache
def _release() -> ModuleType:
    with warnings.catch_warnings():
        # The package reads its data files with a deprecated importlib.resources call at import.
        warnings.simplefilter("ignore", DeprecationWarning)
        import simple_icd_10_cm

    module: ModuleType = simple_icd_10_cm
    return module


def description(code: str) -> str | None:
    """What the release calls `code` (a chapter, block, category or code), or None when it is not in it."""
    release = _release()
    if not release.is_valid_item(code):
        return None
    return str(release.get_description(code))


def invalid(codes: Iterable[str]) -> list[str]:
    """The codes (as written) that the release does not contain."""
    return [code for code in codes if description(code) is None]


def descendants(code: str) -> list[str]:
    """Every code below `code` in the release (empty for a leaf or an unknown code)."""
    release = _release()
    return [str(c) for c in release.get_descendants(code)] if release.is_valid_item(code) else []
