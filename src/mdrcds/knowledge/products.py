"""Brand names and product-level codes that name an ingredient (pure).

`rules/provenance/products.csv` maps each brand name ('Keytruda', 'Calan SR') or product-level code
(an RxNorm clinical or branded drug) to the ingredient it contains, with the public source where the
pairing was read. A verified row is added to every value-set member named after that ingredient: a
brand as a name to match in free text, a product code as a code. Rows not verified are kept in the
file for the record and never used.

    ingredient,kind,system,code,name,source,verified,note
    pembrolizumab,brand,,,Keytruda,"PMC9280269 Table 1 ...",yes,
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, replace
from pathlib import Path

from mdrcds.knowledge.terminology import SYSTEM_URIS, Code, ValueSet

_COLUMNS = ("ingredient", "kind", "system", "code", "name", "source", "verified", "note")
_KINDS = ("brand", "product")


@dataclass(frozen=True)
class ProductRow:
    """One brand or product of an ingredient, with where it was verified."""

    ingredient: str
    kind: str
    system: str
    code: str
    name: str
    source: str


def read_products(path: Path) -> tuple[list[ProductRow], list[str]]:
    """The verified rows of a products file, and a message for every malformed row."""
    problems: list[str] = []
    rows: list[ProductRow] = []
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            if tuple(reader.fieldnames or ()) != _COLUMNS:
                return [], [f"{path}: columns must be {','.join(_COLUMNS)}"]
            for line, raw in enumerate(reader, start=2):
                row = {k: (v or "").strip() for k, v in raw.items() if k}
                where = f"{path}:{line}"
                if row["kind"] not in _KINDS or not row["ingredient"] or not row["source"]:
                    problems.append(
                        f"{where}: needs an ingredient, a kind ({' or '.join(_KINDS)}) and a source"
                    )
                    continue
                if row["kind"] == "brand" and not row["name"]:
                    problems.append(f"{where}: a brand row needs a name")
                    continue
                if row["kind"] == "product" and (row["system"] not in SYSTEM_URIS or not row["code"]):
                    problems.append(f"{where}: a product row needs a known system and a code")
                    continue
                if row["verified"] != "yes":
                    continue
                rows.append(
                    ProductRow(
                        row["ingredient"].lower(),
                        row["kind"],
                        row["system"],
                        row["code"],
                        row["name"],
                        row["source"],
                    )
                )
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        problems.append(f"{path}: cannot read ({exc})")
    return rows, problems


def with_products(value_set: ValueSet, rows: list[ProductRow]) -> ValueSet:
    """The value set with each member's verified brand names and product codes added."""
    if not rows or not any(kind in value_set.applies_to for kind in ("medication",)):
        return value_set
    by_ingredient: dict[str, list[ProductRow]] = {}
    for row in rows:
        by_ingredient.setdefault(row.ingredient, []).append(row)
    members = []
    for member in value_set.members:
        extra = by_ingredient.get(member.name.lower(), [])
        if extra and member.match_name:
            brands = tuple(r.name for r in extra if r.kind == "brand" and r.name not in member.synonyms)
            codes = tuple(Code(r.system, r.code, r.source) for r in extra if r.kind == "product")
            member = replace(member, synonyms=member.synonyms + brands, codes=member.codes + codes)
        members.append(member)
    return replace(value_set, members=tuple(members))
