"""Dotted keys into a case file's raw TOML: ``optimizer.lr``, ``model.sizes[1]``, ``"linear0.weight".l2``.

A sweep names what it varies this way, so it needs no knowledge of any optimizer's fields: it sets the
value in the raw document and the normal loader decides whether the result is a valid case.
"""

from __future__ import annotations

import re

Path = tuple[str | int, ...]

# A segment is a bare TOML key or a double-quoted one, followed by any number of [index] parts.
_SEGMENT = re.compile(r'(?:"(?P<quoted>[^"]*)"|(?P<bare>[A-Za-z0-9_-]+))(?P<indexes>(?:\[-?\d+\])*)')
_INDEX = re.compile(r"\[(-?\d+)\]")


def parse(key: str) -> Path:
    """``model.sizes[1]`` -> ('model', 'sizes', 1). Raises ValueError naming what is wrong."""
    path: list[str | int] = []
    pos = 0
    while True:
        match = _SEGMENT.match(key, pos)
        if match is None:
            raise ValueError(f"{key!r} is not a dotted key (at character {pos})")
        path.append(match["quoted"] if match["quoted"] is not None else match["bare"])
        path.extend(int(i) for i in _INDEX.findall(match["indexes"]))
        pos = match.end()
        if pos == len(key):
            return tuple(path)
        if key[pos] != ".":
            raise ValueError(f"{key!r} is not a dotted key (unexpected {key[pos]!r} at character {pos})")
        pos += 1


def get(doc: dict, key: str):
    """The value at ``key``; KeyError (saying which part is missing) when the path does not exist."""
    node = doc
    for part in parse(key):
        node = _child(node, part)
    return node


def set_value(doc: dict, key: str, value) -> None:
    """Set ``key`` to ``value`` in place. Missing tables on the way are created (a swept
    ``regularization.l2`` may add a [regularization] table); a list index must already exist."""
    path = parse(key)
    node = doc
    for i, part in enumerate(path[:-1]):
        if isinstance(part, str) and isinstance(node, dict) and part not in node:
            node[part] = [] if isinstance(path[i + 1], int) else {}
        node = _child(node, part)
    last = path[-1]
    if isinstance(last, int):
        if not isinstance(node, list) or not -len(node) <= last < len(node):
            raise KeyError(f"index [{last}] is outside {_describe(node)}")
        node[last] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise KeyError(f"{last!r} is inside {_describe(node)}, not a table")


def _child(node, part):
    if isinstance(part, int):
        if isinstance(node, list) and -len(node) <= part < len(node):
            return node[part]
        raise KeyError(f"index [{part}] is outside {_describe(node)}")
    if isinstance(node, dict) and part in node:
        return node[part]
    raise KeyError(f"no {part!r} in {_describe(node)}")


def _describe(node) -> str:
    if isinstance(node, list):
        return f"a list of {len(node)}"
    if isinstance(node, dict):
        return f"a table with keys {', '.join(map(str, node)) or '(none)'}"
    return f"a {type(node).__name__} {node!r}"
