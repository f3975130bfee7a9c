"""Custom resources against their CRD's openAPIV3Schema: prune unknown fields, apply defaults, validate.

Structural-schema semantics as the apiextensions server applies them, in that order; jsonschema does the
validation after the Kubernetes extensions (`nullable`, `x-kubernetes-int-or-string`) are made plain JSON Schema.
"""

from __future__ import annotations

import copy
import functools
import json
from typing import Any

import jsonschema

from kubesim import errors

ROOT_FIELDS = {"apiVersion", "kind", "metadata"}


def prune(obj: Any, schema: dict[str, Any], path: str = "") -> list[str]:
    """Drop fields the schema does not declare (in place); returns their paths for strict field validation."""
    dropped: list[str] = []
    if isinstance(obj, dict):
        if schema.get("x-kubernetes-preserve-unknown-fields") and "properties" not in schema:
            return dropped
        properties = schema.get("properties")
        additional = schema.get("additionalProperties")
        for key in list(obj):
            if not path and key in ROOT_FIELDS:
                continue
            child_path = f"{path}.{key}" if path else key
            if properties is not None and key in properties:
                dropped += prune(obj[key], properties[key], child_path)
            elif isinstance(additional, dict):
                dropped += prune(obj[key], additional, child_path)
            elif additional is True or schema.get("x-kubernetes-preserve-unknown-fields"):
                continue
            else:
                del obj[key]
                dropped.append(child_path)
    elif isinstance(obj, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(obj):
            dropped += prune(item, schema["items"], f"{path}[{index}]")
    return dropped


def apply_defaults(obj: Any, schema: dict[str, Any]) -> None:
    """Fill in `default` for absent properties, recursively (in place)."""
    if isinstance(obj, dict):
        for key, sub in (schema.get("properties") or {}).items():
            if key not in obj and "default" in sub:
                obj[key] = copy.deepcopy(sub["default"])
            if key in obj:
                apply_defaults(obj[key], sub)
        if isinstance(schema.get("additionalProperties"), dict):
            for key, value in obj.items():
                apply_defaults(value, schema["additionalProperties"])
    elif isinstance(obj, list) and isinstance(schema.get("items"), dict):
        for item in obj:
            apply_defaults(item, schema["items"])


def to_json_schema(schema: Any) -> Any:
    """Kubernetes' OpenAPI dialect → draft-4 JSON Schema (nullable, int-or-string; extensions dropped)."""
    if isinstance(schema, list):
        return [to_json_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    result = {k: to_json_schema(v) for k, v in schema.items() if not k.startswith("x-kubernetes-") and k != "nullable"}
    if "properties" in schema:
        result["properties"] = {k: to_json_schema(v) for k, v in schema["properties"].items()}
    if schema.get("x-kubernetes-int-or-string"):
        result.pop("type", None)
        result["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if schema.get("nullable") and "type" in result:
        result["type"] = [result["type"], "null"]
    return result


def _field_path(error: jsonschema.ValidationError) -> str:
    path = ""
    for part in error.absolute_path:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _cause(error: jsonschema.ValidationError) -> dict[str, str]:
    path = _field_path(error)
    if error.validator == "required":
        missing = error.message.split("'")[1]
        return errors.cause(f"{path}.{missing}" if path else missing, "Required value", "FieldValueRequired")
    if error.validator == "enum":
        supported = ", ".join(json.dumps(v) for v in error.validator_value)
        return errors.cause(
            path,
            f"Unsupported value: {json.dumps(error.instance)}: supported values: {supported}",
            "FieldValueNotSupported",
        )
    if error.validator == "type":
        return errors.cause(
            path,
            f'Invalid value: "{_type_name(error.instance)}": {path} in body must be of type {error.validator_value}: '
            f'"{_type_name(error.instance)}"',
            "FieldValueTypeInvalid",
        )
    return errors.cause(path, f"Invalid value: {json.dumps(error.instance)}: {error.message}")


def _type_name(value: Any) -> str:
    for name, kind in (("boolean", bool), ("integer", int), ("number", float), ("string", str), ("array", list)):
        if isinstance(value, kind):
            return name
    return "object" if isinstance(value, dict) else "null"


def validate(obj: dict[str, Any], schema: dict[str, Any], old: dict[str, Any] | None = None) -> list[dict[str, str]]:
    """The causes of a 422 Invalid, one per failed constraint (metadata is the server's own business). On an update
    (`old`), top-level parts equal to the old ones are not validated again (ratcheting, as CEL rules)."""
    if not schema:
        return []
    body = {k: v for k, v in obj.items() if k not in ROOT_FIELDS}
    only: tuple[str, ...] | None = None
    if old is not None:
        previous = {k: v for k, v in old.items() if k not in ROOT_FIELDS}
        only = tuple(sorted(k for k in {*body, *previous} if body.get(k, _GONE) != previous.get(k, _GONE)))
        if not only:
            return []
    validator = _validator(json.dumps(schema, sort_keys=True), only)
    found = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
    return [_cause(e) for e in found]


_GONE = object()


@functools.lru_cache(maxsize=256)
def _validator(schema_json: str, only: tuple[str, ...] | None) -> jsonschema.Draft4Validator:
    """One validator per schema (keyed by its JSON: a CRD update brings a new one), for the whole object or only
    the top-level parts named in `only` (the changed ones; `required` then holds for those alone)."""
    plain = to_json_schema(json.loads(schema_json))
    for root in ("metadata", "apiVersion", "kind"):
        plain.get("properties", {}).pop(root, None)
    if only is not None:
        plain["properties"] = {k: v for k, v in (plain.get("properties") or {}).items() if k in only}
        if "required" in plain:
            plain["required"] = [k for k in plain["required"] if k in only]
    return jsonschema.Draft4Validator(plain)
