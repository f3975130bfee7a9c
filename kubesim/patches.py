"""PATCH bodies: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and the subset of strategic merge patch
that kubectl sends for built-in kinds."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from kubesim import errors

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"

# Lists that strategic merge patch merges by a key (from the Go types' patchMergeKey tags) instead of replacing.
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "imagePullSecrets": "name",
    "ownerReferences": "uid",
    "conditions": "type",
    "ports": "containerPort",
    "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey",
}
# Lists of scalars that strategic merge patch merges as sets.
MERGED_SCALAR_LISTS = {"finalizers"}


def patcher(content_type: str, body: Any, *, custom: bool) -> Callable[[Any], Any]:
    """The function a PATCH of that content type applies; strategic merge patch exists for built-in kinds only."""
    if content_type == MERGE_PATCH:
        if not isinstance(body, dict):
            raise errors.bad_request("the merge patch is not a JSON object")
        return lambda obj: merge_patch(obj, body)
    if content_type == JSON_PATCH:
        return lambda obj: json_patch(obj, body)
    if content_type == STRATEGIC_MERGE_PATCH and not custom:
        return lambda obj: strategic_merge_patch(obj, body)
    if content_type == APPLY_PATCH:
        message = "server-side apply (application/apply-patch+yaml) is not implemented by the test Kubernetes API"
        raise errors.ApiError(415, "UnsupportedMediaType", message + "; use client-side apply")
    accepted = [JSON_PATCH, MERGE_PATCH, APPLY_PATCH] + ([] if custom else [STRATEGIC_MERGE_PATCH])
    raise errors.unsupported_media_type(content_type, accepted)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def json_patch(document: Any, operations: Any) -> Any:
    """RFC 6902; a failed operation (a `test` that does not hold included) is a 422, as upstream."""
    if not isinstance(operations, list):
        raise errors.bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    document = copy.deepcopy(document)
    for operation in operations:
        if not isinstance(operation, dict) or "op" not in operation or "path" not in operation:
            raise errors.bad_request(f"invalid JSON patch operation: {operation!r}")
        document = _apply_operation(document, operation)
    return document


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise errors.unprocessable(f"invalid JSON pointer: {path!r}")
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _resolve(document: Any, parts: list[str], path: str, op: str) -> Any:
    node = document
    for part in parts:
        try:
            node = node[int(part)] if isinstance(node, list) else node[part]
        except (KeyError, ValueError, IndexError, TypeError):
            raise errors.unprocessable(f"{op} operation does not apply: doc is missing path: {path}") from None
    return node


def _apply_operation(document: Any, operation: dict[str, Any]) -> Any:
    op, path = operation["op"], operation["path"]
    parts = _pointer(path)
    if op == "test":
        if _resolve(document, parts, path, op) != operation.get("value"):
            raise errors.unprocessable(f"testing value {path} failed: test failed")
        return document
    if op in ("move", "copy"):
        source = _pointer(operation.get("from", ""))
        value = copy.deepcopy(_resolve(document, source, operation.get("from", ""), op))
        if op == "move":
            document = _remove(document, source, operation["from"], op)
        return _add(document, parts, path, value, op)
    if op == "remove":
        return _remove(document, parts, path, op)
    if op == "add":
        return _add(document, parts, path, copy.deepcopy(operation.get("value")), op)
    if op == "replace":
        _resolve(document, parts, path, op)
        return _add(_remove(document, parts, path, op), parts, path, copy.deepcopy(operation.get("value")), op)
    raise errors.bad_request(f"Unexpected kind: {op}")


def _add(document: Any, parts: list[str], path: str, value: Any, op: str) -> Any:
    if not parts:
        return value
    parent = _resolve(document, parts[:-1], path, op)
    last = parts[-1]
    if isinstance(parent, list):
        index = len(parent) if last == "-" else _index(last, path, op)
        if index > len(parent):
            raise errors.unprocessable(f"{op} operation does not apply: doc is missing path: {path}")
        parent.insert(index, value)
    elif isinstance(parent, dict):
        parent[last] = value
    else:
        raise errors.unprocessable(f"{op} operation does not apply: doc is missing path: {path}")
    return document


def _remove(document: Any, parts: list[str], path: str, op: str) -> Any:
    if not parts:
        return None
    parent = _resolve(document, parts[:-1], path, op)
    last = parts[-1]
    try:
        if isinstance(parent, list):
            del parent[_index(last, path, op)]
        else:
            del parent[last]
    except (KeyError, IndexError, TypeError):
        raise errors.unprocessable(f"{op} operation does not apply: doc is missing path: {path}") from None
    return document


def _index(part: str, path: str, op: str) -> int:
    if not part.isdigit():
        raise errors.unprocessable(f"{op} operation does not apply: doc is missing path: {path}")
    return int(part)


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    """The directives kubectl sends: merge keys, `$patch`, `$retainKeys`, `$setElementOrder`,
    `$deleteFromPrimitiveList`."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key in ("$patch", "$retainKeys") or key.startswith("$setElementOrder/"):
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            name = key.split("/", 1)[1]
            result[name] = [item for item in result.get(name, []) if item not in value]
        elif value is None:
            result.pop(key, None)
        elif isinstance(value, list) and key in MERGE_KEYS and isinstance(result.get(key), list):
            result[key] = _merge_list(result[key], value, MERGE_KEYS[key])
        elif isinstance(value, list) and key in MERGED_SCALAR_LISTS:
            existing = list(result.get(key) or [])
            result[key] = existing + [item for item in value if item not in existing]
        elif isinstance(value, dict) and value.get("$patch") == "delete":
            result.pop(key, None)
        else:
            result[key] = strategic_merge_patch(result.get(key), value)
    if "$retainKeys" in patch:
        result = {k: v for k, v in result.items() if k in patch["$retainKeys"]}
    return result


def _merge_list(target: list[Any], patch: list[Any], merge_key: str) -> list[Any]:
    result = [copy.deepcopy(item) for item in target]
    for item in patch:
        if not isinstance(item, dict) or merge_key not in item:
            raise errors.bad_request(f"map: {item!r} does not contain declared merge key: {merge_key}")
        position = next(
            (i for i, e in enumerate(result) if isinstance(e, dict) and e.get(merge_key) == item[merge_key]), None
        )
        if item.get("$patch") == "delete":
            if position is not None:
                del result[position]
        elif position is None:
            result.append({k: v for k, v in item.items() if k != "$patch"})
        else:
            result[position] = strategic_merge_patch(result[position], item)
    return result
