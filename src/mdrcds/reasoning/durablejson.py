"""The JSON that durable-rules' Python layer writes for its C core, made by orjson.

durable-rules hands every fact, retraction and action result to its C core as JSON text, written with
`json.dumps(..., ensure_ascii=False)` and read back with `json.loads` (durable/engine.py). With any
argument other than the defaults, the standard library builds a new encoder for each call. The five
writes of a hook call took about 40 µs of its 0.6 ms in process (docs/performance.md).
`install()` gives durable's engine module this module in place of `json`. The documents are the same,
compact UTF-8 JSON. Where orjson would write something else or nothing (a non-finite float, an
integer past 64 bits), the standard library writes it as before; reading stays the standard
library's (with the default arguments it is already its C scanner).
"""

from __future__ import annotations

import json
import math
from types import SimpleNamespace
from typing import Any

import orjson


def dumps(value: Any, ensure_ascii: bool = False) -> str:
    """`json.dumps(value, ensure_ascii=...)`, made by orjson where it writes the same document."""
    if ensure_ascii or _non_finite_in(value):
        return json.dumps(value, ensure_ascii=ensure_ascii)  # NaN and Infinity, as json writes them
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:  # orjson.JSONEncodeError: an integer past 64 bits, a type orjson does not know
        return json.dumps(value, ensure_ascii=False)


def _non_finite_in(value: Any) -> bool:
    """Whether a float that is NaN or infinite is anywhere in `value` (orjson would write null)."""
    if isinstance(value, dict):
        items: Any = value.values()
    elif isinstance(value, list | tuple):
        items = value
    else:
        return isinstance(value, float) and not math.isfinite(value)
    # Written out for a fact's flat dict, the usual case: a loop, no call per scalar.
    for item in items:
        if isinstance(item, float):
            if not math.isfinite(item):
                return True
        elif isinstance(item, dict | list | tuple) and _non_finite_in(item):
            return True
    return False


def install(engine_module: Any) -> None:
    """Make durable-rules' engine module (`durable.engine`) write its JSON through this module; it
    reads with the standard library's `json.loads` as before (orjson reads an integer past 64 bits as
    a float)."""
    engine_module.json = SimpleNamespace(dumps=dumps, loads=json.loads)
