"""YAML read with limits, for rule files and uploaded test cases alike.

PyYAML's safe loader still expands aliases (a 500-byte "billion laughs" document becomes gigabytes),
recurses once per nesting level (a 100,000-deep document is a RecursionError) and reads any size. This
reader first walks the parser's event stream, which costs memory proportional to the text, and refuses
before anything is built:

* any alias (`*name`): knowledge files and test cases never need one;
* nesting deeper than `max_depth`, more than `max_nodes` scalars and collections, more than `max_bytes`;
* bytes that are not UTF-8 (the message gives the offset).

Only a document that passes is composed into Python objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from mdrcds.errors import MdrcdsError

_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class YamlLimitError(MdrcdsError):
    """A YAML document is not valid, or is over a limit; the message names the document and why."""


@dataclass(frozen=True)
class YamlLimits:
    """How large a YAML document may be. The defaults take the largest rule file many times over."""

    max_bytes: int = 4 * 1024 * 1024
    max_depth: int = 64
    max_nodes: int = 500_000


DEFAULT_LIMITS = YamlLimits()


def load_yaml(data: bytes | str, name: str, limits: YamlLimits = DEFAULT_LIMITS) -> Any:
    """The Python value of one YAML document; raises YamlLimitError naming `name` and the problem."""
    size = len(data.encode() if isinstance(data, str) else data)
    if size > limits.max_bytes:
        raise YamlLimitError(f"{name}: {size:,} bytes of YAML, over the limit of {limits.max_bytes:,}")
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise YamlLimitError(f"{name}: not UTF-8 text (byte {exc.start} cannot be read)") from None
    else:
        text = data
    try:
        _check_events(text, name, limits)
        return yaml.load(text, Loader=_LOADER)
    except yaml.YAMLError as exc:
        raise YamlLimitError(f"{name}: not valid YAML ({_one_line(exc)})") from None


def _check_events(text: str, name: str, limits: YamlLimits) -> None:
    depth = nodes = 0
    for event in yaml.parse(text, Loader=_LOADER):
        if isinstance(event, yaml.AliasEvent):
            raise YamlLimitError(f"{name}: YAML aliases (*{event.anchor}) are not allowed{_at(event)}")
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > limits.max_depth:
                raise YamlLimitError(f"{name}: nested deeper than {limits.max_depth} levels{_at(event)}")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
        if isinstance(event, (yaml.ScalarEvent, yaml.CollectionStartEvent)):
            nodes += 1
            if nodes > limits.max_nodes:
                raise YamlLimitError(f"{name}: more than {limits.max_nodes:,} YAML values{_at(event)}")


def _at(event: yaml.Event) -> str:
    mark = event.start_mark
    return f" (line {mark.line + 1})" if mark is not None else ""


def _one_line(exc: yaml.YAMLError) -> str:
    """The parser's problem and where, without its internals ('in "<unicode string>"')."""
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        hint = " (quote a value that holds ': ')" if "mapping values are not allowed" in exc.problem else ""
        return f"{where}{exc.problem}{hint}"
    return " ".join(str(exc).split())
