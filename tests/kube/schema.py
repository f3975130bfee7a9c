"""Custom resources against their CRD's openAPIV3Schema: prune unknown fields, apply defaults, validate.

Structural-schema semantics as the apiextensions server applies them, in that order; jsonschema does the
validation after the Kubernetes extensions (`nullable`, `x-kubernetes-int-or-string`) are made plain JSON Schema.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonschema

from tests.kube import errors

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


def validate(obj: dict[str, Any], schema: dict[str, Any]) -> list[dict[str, str]]:
    """The causes of a 422 Invalid, one per failed constraint (metadata is the server's own business)."""
    if not schema:
        return []
    body = {k: v for k, v in obj.items() if k not in ROOT_FIELDS}
    plain = to_json_schema(schema)
    plain.get("properties", {}).pop("metadata", None)
    plain.get("properties", {}).pop("apiVersion", None)
    plain.get("properties", {}).pop("kind", None)
    validator = jsonschema.Draft4Validator(plain)
    found = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
    return [_cause(e) for e in found]
