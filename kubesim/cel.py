"""CRD validation rules (`x-kubernetes-validations`, CEL), evaluated with cel-python as the apiserver would.

Transition rules (those naming `oldSelf`) run only on updates where the old value exists; unchanged values are
not checked again (ratcheting). A rule that fails
or cannot be evaluated is a 422 cause at that field, with the rule's message.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import celpy
from celpy.adapter import json_to_cel
from celpy.evaluation import CELEvalError

from kubesim import errors

_MISSING = object()


def compile_rule(rule: str) -> Any:
    """The rule's program; raises on a rule that does not compile (the CRD is then refused)."""
    return _program(rule)


@functools.cache
def _program(rule: str) -> Any:
    environment = celpy.Environment()
    return environment.program(environment.compile(rule))


def violations(
    new: Any, old: Any, schema: dict[str, Any], path: str = "", transitions_only: bool = False
) -> list[dict[str, str]]:
    """Causes for every rule that does not hold, walking the schema, the new value and the old one together.

    On updates a value equal to its old one is not checked again (CRD validation ratcheting, on by default since
    Kubernetes 1.30, GA in 1.33: a status write does not re-run the spec's rules), except by transition rules
    (those naming `oldSelf`), which upstream never ratchets; `self == oldSelf` holds there without evaluating it."""
    if old is not _MISSING and new == old:
        transitions_only = True
    causes: list[dict[str, str]] = []
    for validation in schema.get("x-kubernetes-validations") or []:
        rule = validation["rule"]
        if "oldSelf" in rule and old is _MISSING:
            continue
        if transitions_only and ("oldSelf" not in rule or rule.replace(" ", "") == "self==oldSelf"):
            continue
        if not _holds(rule, new, old):
            message = validation.get("message") or f"failed rule: {rule}"
            causes.append(errors.cause(path or "<nil>", f'Invalid value: "{_type_name(new)}": {message}'))
    if isinstance(new, dict):
        properties = schema.get("properties") or {}
        additional = schema.get("additionalProperties")
        for key, value in new.items():
            sub = properties.get(key) or (additional if isinstance(additional, dict) else None)
            if sub:
                old_value = old.get(key, _MISSING) if isinstance(old, dict) else _MISSING
                causes += violations(value, old_value, sub, f"{path}.{key}" if path else key, transitions_only)
    elif isinstance(new, list) and isinstance(schema.get("items"), dict) and not transitions_only:
        for index, item in enumerate(new):
            causes += violations(item, _MISSING, schema["items"], f"{path}[{index}]")
    return causes


def check(new: dict[str, Any], old: dict[str, Any] | None, schema: dict[str, Any]) -> list[dict[str, str]]:
    """The rules of a custom resource's schema, below its root (apiVersion, kind and metadata are not checked)."""
    body = {k: v for k, v in new.items() if k not in ("apiVersion", "kind", "metadata")}
    previous = {k: v for k, v in old.items() if k not in ("apiVersion", "kind", "metadata")} if old else _MISSING
    return violations(body, previous, schema)


def _holds(rule: str, new: Any, old: Any) -> bool:
    activation = {"self": json_to_cel(new)}
    if old is not _MISSING:
        activation["oldSelf"] = json_to_cel(old)
    try:
        return bool(_program(rule).evaluate(activation))
    except CELEvalError:
        return False


def _type_name(value: Any) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return json.dumps(value) if not isinstance(value, str) else value
