"""Values from FHIR data as inline text: data may never restyle advice.

A drug text such as `verapamil\n\n# NO ACTION NEEDED` must stay words inside the sentence it was put
in, never become a heading, list, table, rule, code block or HTML in a card. Every value taken from a
record (resource texts, codes, units, references, notes) passes through one of these before it enters a
card:

* `one_line` for plain-text fields (the card's summary): every kind of line break and control character
  becomes a space, runs of white space one space;
* `inline_markdown` for Markdown fields (the card's detail): `one_line`, then every character that can
  open Markdown markup anywhere (backslash, emphasis, code, links, images, HTML, tables, strikethrough,
  headings, entities) is backslash-escaped, and so is one that could open a block at the start of a
  value (a list marker or thematic break `-` `+`, a setext `=`, an ordered-list number such as `1.`).
"""

from __future__ import annotations

import re
from functools import lru_cache

_BREAKS = re.compile(r"[\s\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_ANYWHERE = re.compile(r"([\\`*_\[\]<>#|~!&])")
_LEADING = re.compile(r"^(?:[-+=]|\d{1,9}[.)](?=\s|$))")


# Both are pure, and the same drug names and labels come back call after call: remembered (a hit is a
# tenth of the regular expressions' time; a card fills in about fourteen values).
@lru_cache(maxsize=4096)
def one_line(text: str) -> str:
    """`text` on one line: line breaks, tabs and control characters become single spaces."""
    return _BREAKS.sub(" ", text).strip()


@lru_cache(maxsize=4096)
def inline_markdown(text: str) -> str:
    """`text` as CommonMark that can only produce inline text (see the module docstring)."""
    escaped = _ANYWHERE.sub(r"\\\1", one_line(text))
    return _LEADING.sub(lambda m: m[0][:-1] + "\\" + m[0][-1], escaped)
