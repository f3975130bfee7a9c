"""The JSONPath subset CRD printer columns use: `.a.b`, `[0]`, `[*]` and `[?(@.type=="Ready")]`."""

from __future__ import annotations

import re
from typing import Any

_TOKEN = re.compile(r"\.([A-Za-z0-9_-]+)|\[(\d+|\*)\]|\[\?\(@\.([A-Za-z0-9_.-]+)\s*==\s*[\"']([^\"']*)[\"']\)\]")


def parse(path: str) -> list[tuple[str, Any]]:
    """Steps of a path; raises ValueError on anything outside the subset (the CRD is then refused)."""
    path = path.strip()
    if path.startswith("{") and path.endswith("}"):
        path = path[1:-1]
    steps, position = [], 0
    while position < len(path):
        match = _TOKEN.match(path, position)
        if not match:
            raise ValueError(f"unsupported JSONPath {path!r} at {position}")
        field, index, filter_field, filter_value = match.groups()
        if field is not None:
            steps.append(("field", field))
        elif index is not None:
            steps.append(("index", index))
        else:
            steps.append(("filter", (filter_field, filter_value)))
        position = match.end()
    return steps


def find(obj: Any, path: str) -> list[Any]:
    """All values the path selects (empty when absent)."""
    values = [obj]
    for kind, argument in parse(path):
        found: list[Any] = []
        for value in values:
            if kind == "field" and isinstance(value, dict) and argument in value:
                found.append(value[argument])
            elif kind == "index" and isinstance(value, list):
                found.extend(value if argument == "*" else value[int(argument) : int(argument) + 1])
            elif kind == "filter" and isinstance(value, list):
                key, wanted = argument
                found.extend(item for item in value if isinstance(item, dict) and str(_dig(item, key)) == wanted)
        values = found
    return values


def _dig(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        obj = obj.get(part) if isinstance(obj, dict) else None
    return obj
