"""values.schema.json against the values: every key a values file sets is declared, and every object the schema
declares refuses unknown keys, except the free maps listed here (keys chosen by the user, or Kubernetes objects
passed through as they are)."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from typing import Any

# Schema paths (fnmatch patterns; `[]` is a list's items) of objects that may hold any key, and why.
FREE_MAPS = {
    "global": "Helm's values shared with subcharts: helm may set it whatever the chart declares",
    "*.podAnnotations": "annotations: any key",
    "*.annotations": "annotations: any key",
    "*.labels": "labels: any key",
    "*.nodeSelector": "node labels: any key",
    "*NodeSelector": "node labels: any key (worker.gpuNodeSelector, worker.cpuNodeSelector)",
    "*.affinity": "a Kubernetes Affinity, passed through as it is",
    "*.resources": "a Kubernetes ResourceRequirements (resource names are open: nvidia.com/gpu, ...)",
    "*Resources": "a Kubernetes ResourceRequirements (asr.gpuResources)",
    "worker.*Requests": "resource name → quantity (worker.gpuRequests, worker.cpuRequests)",
    "worker.*Limits": "resource name → quantity (worker.gpuLimits, worker.cpuLimits)",
    "*olerations[]": "a Kubernetes Toleration, passed through as it is",
    "*.extraEnv[]": "a Kubernetes EnvVar (value or valueFrom), passed through as it is",
    "asr.models": "model name → directory on the model cache",
    "asr.modelAliases": "alias → model name",
    "networkPolicy.ingressFrom[]": "a Kubernetes NetworkPolicyPeer, passed through as it is",
    "networkPolicy.prometheusFrom[]": "a Kubernetes NetworkPolicyPeer, passed through as it is",
    "httpRoute.parentRefs[]": "a Gateway API ParentReference, passed through as it is",
    "ingress.tls[]": "a Kubernetes IngressTLS, passed through as it is",
}


def is_free_map(path: str) -> bool:
    return any(fnmatch.fnmatchcase(path, pattern) for pattern in FREE_MAPS)


def _resolve(node: Any, root: dict[str, Any]) -> Any:
    while isinstance(node, dict) and isinstance(node.get("$ref"), str) and node["$ref"].startswith("#/"):
        target: Any = root
        for part in node["$ref"][2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _branches(node: Any, root: dict[str, Any]) -> list[dict[str, Any]]:
    """The node and its allOf/anyOf/oneOf/then/else alternatives, resolved."""
    node = _resolve(node, root)
    if not isinstance(node, dict):
        return []
    found = [node]
    for key in ("allOf", "anyOf", "oneOf"):
        for sub in node.get(key) or []:
            found += _branches(sub, root)
    for key in ("then", "else"):
        if key in node:
            found += _branches(node[key], root)
    return found


def _is_object(node: dict[str, Any]) -> bool:
    kind = node.get("type")
    return kind == "object" or (isinstance(kind, list) and "object" in kind) or "properties" in node


def undeclared_keys(values: Any, schema: dict[str, Any]) -> list[str]:
    """Key paths of `values` the schema does not declare (descending into lists; stopping at free maps)."""
    return list(_undeclared(values, schema, schema, ""))


def _undeclared(values: Any, node: Any, root: dict[str, Any], path: str) -> Iterator[str]:
    branches = _branches(node, root)
    if isinstance(values, list):
        for item in values:
            items = [b["items"] for b in branches if isinstance(b.get("items"), dict)]
            yield from _undeclared(item, {"anyOf": items} if items else {}, root, f"{path}[]")
        return
    if not isinstance(values, dict) or (path and is_free_map(path)):
        return
    for key, value in values.items():
        child = f"{path}.{key}" if path else key
        declared = [b["properties"][key] for b in branches if key in (b.get("properties") or {})]
        if declared:
            yield from _undeclared(value, {"allOf": declared}, root, child)
        elif not any(b.get("additionalProperties") not in (None, False) for b in branches):
            yield child


def loose_objects(schema: dict[str, Any]) -> list[str]:
    """Schema paths of objects that do not refuse unknown keys and are not listed in FREE_MAPS."""
    return sorted(set(_loose(schema, schema, "")))


def _loose(node: Any, root: dict[str, Any], path: str) -> Iterator[str]:
    if path and is_free_map(path):
        return
    for branch in _branches(node, root):
        closed = branch.get("additionalProperties") is False or branch.get("unevaluatedProperties") is False
        if _is_object(branch) and not closed:
            yield path or "<root>"
        for key, sub in (branch.get("properties") or {}).items():
            yield from _loose(sub, root, f"{path}.{key}" if path else key)
        if isinstance(branch.get("items"), dict):
            yield from _loose(branch["items"], root, f"{path}[]")
        if isinstance(branch.get("additionalProperties"), dict):
            yield from _loose(branch["additionalProperties"], root, f"{path}.*")


def leaves(values: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """(key path, value) for every scalar in a values tree."""
    if isinstance(values, dict):
        for key, value in values.items():
            yield from leaves(value, f"{path}.{key}" if path else key)
    elif isinstance(values, list):
        for item in values:
            yield from leaves(item, f"{path}[]")
    else:
        yield path, values
