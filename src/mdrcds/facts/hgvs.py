"""HGVS variant descriptions as laboratories write them, read with hgvs-weaver (pure).

A report's cDNA (LOINC 48004-6) or protein (48005-3) change may come with or without an accession,
with or without its 'c.'/'p.' prefix, in one- or three-letter amino-acid code, with '*', 'Ter' or the
legacy 'X' for a stop, or in parentheses (predicted). Each description is parsed by the maintained
HGVS grammar of hgvs-weaver, not by regular expressions, and read as a Sequence Ontology consequence
term (the names the variant-consequence value set lists), so the loss-of-function policy stays in the
knowledge:

- protein: a stop ('Ter') is stop_gained, 'fs' frameshift_variant, a change at Met1 or p.0 start_lost /
  no protein, a deletion, insertion or deletion-insertion that keeps the frame inframe_deletion /
  inframe_insertion, 'ext' stop_lost, another residue missense_variant, '=' synonymous_variant; p.? says
  nothing.
- cDNA: an intronic position one or two bases from the exon (c.N+1, c.N+2, c.N-1, c.N-2) is a canonical
  splice site (splice_donor_variant / splice_acceptor_variant); a coding deletion, duplication,
  insertion or deletion-insertion whose length is not a multiple of three is frameshift_variant, one
  that is becomes inframe_deletion / inframe_insertion; other cDNA changes say nothing (their protein
  effect needs the transcript, which a report gives as the p. change).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import weaver

MAX_DESCRIPTION = 200
"""Longer texts are not HGVS descriptions a report would carry; they are not parsed."""
_PLACEHOLDER_ACCESSION = "REF"
_ACCESSION = re.compile(r"^[A-Za-z][A-Za-z0-9_.()\-]*:")
# The legacy stop letter: 'p.R130X' meant a nonsense change before HGVS gave X to "unknown residue".
_LEGACY_STOP = re.compile(r"(?<=\d)X(?=\)?$)")
_THREE_LETTER_STOP = "Ter"


@dataclass(frozen=True)
class Change:
    """One parsed description: its normalised HGVS text and the consequence term it implies."""

    text: str
    """'p.Arg130Ter', 'p.(Arg130Ter)', 'c.802-2A>G': the description as HGVS writes it, no accession."""
    consequence: str | None
    """A Sequence Ontology term name ('stop_gained'), or None when the description implies none."""


def read_change(text: str, level: str) -> Change | None:
    """The description in `text` read at `level` ('p' or 'c'); None when it is not valid HGVS."""
    description = _as_hgvs(text.strip(), level)
    if description is None:
        return None
    try:
        variant = weaver.parse(description)
    except (weaver.HGVSError, ValueError):
        return None
    if variant.coordinate_type != level or variant.members is not None:
        return None
    shown = variant.format().split(":", 1)[1]
    parsed: dict[str, Any] = variant.to_dict()
    posedit = parsed.get("posedit") or {}
    if level == "p":
        return Change(shown, _protein_consequence(posedit))
    return Change(shown, _cdna_consequence(posedit))


def _as_hgvs(text: str, level: str) -> str | None:
    if not text or len(text) > MAX_DESCRIPTION or any(c.isspace() for c in text):
        return None
    accession = ""
    match = _ACCESSION.match(text)
    if match:
        accession, text = match.group(0), text[match.end() :]
    if not text.startswith(f"{level}."):
        text = f"{level}.{text}"
    if level == "p":
        text = _LEGACY_STOP.sub(_THREE_LETTER_STOP, text)
    return (accession or f"{_PLACEHOLDER_ACCESSION}:") + text


def _protein_consequence(posedit: dict[str, Any]) -> str | None:
    edit = posedit.get("edit") or {}
    kind = edit.get("type")
    position = posedit.get("pos") or {}
    start = position.get("start") or {}
    if start.get("base") == 1 and start.get("aa") == "Met" and kind not in ("Identity", "Ins"):
        # p.Met1? (the usual way to report a lost initiation codon), p.Met1Val, p.Met1del, ...
        return "start_lost"
    if kind == "Statement":
        return {"NoProtein": "no_protein", "Unchanged": "synonymous_variant"}.get(str(edit.get("statement")))
    if kind == "Fs":
        return "frameshift_variant"
    if kind == "Ext":
        return "stop_lost"
    if kind == "Identity":
        return "synonymous_variant"
    alt = str(edit.get("alt") or "")
    if kind == "Subst":
        return "stop_gained" if alt == _THREE_LETTER_STOP else "missense_variant"
    if kind in ("Del", "Dup", "Ins", "DelIns"):
        if _THREE_LETTER_STOP in alt:
            return "stop_gained"
        if kind == "DelIns":
            end = position.get("end") or start
            span = int(end.get("base") or 0) - int(start.get("base") or 0) + 1
            return "inframe_insertion" if len(alt) // 3 > span else "inframe_deletion"
        return "inframe_deletion" if kind == "Del" else "inframe_insertion"
    return None


def _cdna_consequence(posedit: dict[str, Any]) -> str | None:
    position = posedit.get("pos") or {}
    start = position.get("start") or {}
    end = position.get("end") or start
    offset = start.get("offset")
    if isinstance(offset, int) and offset in (1, 2):
        return "splice_donor_variant"
    if isinstance(offset, int) and offset in (-1, -2):
        return "splice_acceptor_variant"
    coding = all(
        p.get("anchor") == "CdsStart"
        and not p.get("offset")
        and isinstance(p.get("base"), int)
        and p["base"] > 0
        for p in (start, end)
    )
    if not coding:
        return None
    edit = posedit.get("edit") or {}
    kind = edit.get("type")
    alt = str(edit.get("alt") or "")
    span = int(end["base"]) - int(start["base"]) + 1
    # Bases gained (positive) or lost (negative) in the coding sequence.
    if kind == "Del":
        gained = -span
    elif kind == "Dup":
        gained = span
    elif kind == "Ins" and alt.isalpha():
        gained = len(alt)
    elif kind == "RefAlt" and edit.get("ref_") == "" and alt.isalpha():
        # a deletion-insertion: weaver gives the deleted bases no text and the inserted ones as alt
        gained = len(alt) - span
    else:
        return None
    if gained % 3:
        return "frameshift_variant"
    if gained == 0:
        return None
    return "inframe_insertion" if gained > 0 else "inframe_deletion"
