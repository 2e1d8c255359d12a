"""Mutating JSON documents node by node, for the hostile-input tests."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

DELETE = object()
"""A replacement value that deletes the node instead."""


def paths(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path into a JSON node (dict keys and list indexes), parents before children."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*path, key)
            yield from paths(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield (*path, index)
            yield from paths(value, (*path, index))


def replaced(document: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    """A copy of `document` with the node at `path` replaced by `value` (or deleted, for DELETE)."""
    mutated = copy.deepcopy(document)
    node: Any = mutated
    for step in path[:-1]:
        node = node[step]
    if value is DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return mutated
