"""Label selectors (equality and set-based) and field selectors, parsed as the apiserver parses them."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from kubesim import errors

Matcher = Callable[[dict[str, Any]], bool]

_SET_RE = re.compile(r"^\s*(!?)([A-Za-z0-9./_-]+)\s*(?:(in|notin)\s*\(([^)]*)\))?\s*$")


def _split_top_level(selector: str) -> list[str]:
    """Split at commas outside parentheses: `a in (x,y),b` → [`a in (x,y)`, `b`]."""
    parts, depth, current = [], 0, ""
    for char in selector:
        depth += char == "("
        depth -= char == ")"
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [p.strip() for p in parts if p.strip()]


def label_selector(selector: str | None) -> Matcher:
    if not selector:
        return lambda _obj: True
    requirements = [_label_requirement(part) for part in _split_top_level(selector)]
    return lambda obj: all(req(obj.get("metadata", {}).get("labels") or {}) for req in requirements)


def _label_requirement(text: str) -> Callable[[dict[str, str]], bool]:
    for op in ("!=", "==", "="):
        if op in text:
            key, value = (s.strip() for s in text.split(op, 1))
            if op == "!=":
                return lambda labels: labels.get(key) != value
            return lambda labels: labels.get(key) == value
    match = _SET_RE.match(text)
    if not match:
        raise errors.bad_request(f"unable to parse requirement: {text}")
    negated, key, operator, values_text = match.groups()
    if operator:
        values = {v.strip() for v in values_text.split(",") if v.strip()}
        if operator == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    if negated:
        return lambda labels: key not in labels
    return lambda labels: key in labels


def field_value(obj: dict[str, Any], path: str) -> str:
    """A field selector compares strings; absent fields read as "" (booleans as "true"/"false")."""
    node: Any = obj
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    if node is None:
        return ""
    if isinstance(node, bool):
        return "true" if node else "false"
    return str(node)


def field_selector(selector: str | None, supported: frozenset[str]) -> Matcher:
    """Only the fields the real server indexes for the kind; others are a 400, as upstream."""
    if not selector:
        return lambda _obj: True
    checks: list[tuple[str, str, bool]] = []
    for part in _split_top_level(selector):
        for op in ("!=", "==", "="):
            if op in part:
                key, value = (s.strip() for s in part.split(op, 1))
                break
        else:
            raise errors.bad_request(f"invalid selector: '{selector}'; can't understand '{part}'")
        if key not in supported:
            raise errors.bad_request(f"field label not supported: {key}")
        checks.append((key, value, op == "!="))
    return lambda obj: all((field_value(obj, key) == value) != negate for key, value, negate in checks)
