"""Discovery (/api, /apis, APIResourceLists), /version and the OpenAPI v3 documents kubectl asks for.

The OpenAPI documents are only as deep as kubectl needs: per group-version, the paths of each resource, whose
PATCH operation names its group-version-kind and a `fieldValidation` query parameter, so that `kubectl apply`
sends `fieldValidation=Strict` and leaves validation to this server, as it does with a real one. They carry no
schemas, so kubectl falls back to its built-in types for strategic merge patches and to merge patches for
custom resources.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from kubesim.resources import STATUS_VERBS, Registry, ResourceType

KUBERNETES_VERSION = {
    "major": "1",
    "minor": "33",
    "gitVersion": "v1.33.0",
    "gitCommit": "test-kube-api",
    "gitTreeState": "clean",
    "buildDate": "2025-04-23T00:00:00Z",
    "goVersion": "go1.24.2",
    "compiler": "gc",
    "platform": "linux/amd64",
}


def api_versions(server_address: str) -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def _group(name: str, versions: list[str]) -> dict[str, Any]:
    listed = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": listed, "preferredVersion": listed[0]}


def api_group_list(registry: Registry) -> dict[str, Any]:
    groups = [_group(name, versions) for name, versions in sorted(registry.group_versions().items()) if name]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(registry: Registry, name: str) -> dict[str, Any] | None:
    versions = registry.group_versions().get(name)
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(name, versions)} if versions and name else None


def api_resource_list(registry: Registry, group: str, version: str) -> dict[str, Any] | None:
    """An APIResourceList: each resource, then `<plural>/status` where it has that subresource."""
    served = sorted((r for r in registry.all() if r.group == group and version in r.versions), key=lambda r: r.plural)
    if not served:
        return None
    resources: list[dict[str, Any]] = []
    for resource in served:
        entry: dict[str, Any] = {
            "name": resource.plural,
            "singularName": resource.singular,
            "namespaced": resource.namespaced,
            "kind": resource.kind,
            "verbs": list(resource.verbs),
        }
        if resource.short_names:
            entry["shortNames"] = list(resource.short_names)
        if resource.categories:
            entry["categories"] = list(resource.categories)
        if resource.stored:
            entry["storageVersionHash"] = _hash(resource.qualified)[:12]
        resources.append(entry)
        if resource.kind == "Pod" and not group:
            resources.append(
                {"name": "pods/log", "singularName": "", "namespaced": True, "kind": "Pod", "verbs": ["get"]}
            )
        if resource.status_subresource:
            resources.append(
                {
                    "name": f"{resource.plural}/status",
                    "singularName": "",
                    "namespaced": resource.namespaced,
                    "kind": resource.kind,
                    "verbs": list(STATUS_VERBS),
                }
            )
    group_version = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources}


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest().upper()


def openapi_index(registry: Registry) -> dict[str, Any]:
    """/openapi/v3: where each group-version's document is, with a hash that changes when it does."""
    paths = {}
    for group, versions in registry.group_versions().items():
        for version in versions:
            key = f"apis/{group}/{version}" if group else f"api/{version}"
            digest = _hash(json.dumps(openapi_document(registry, group, version), sort_keys=True))
            paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={digest}"}
    return {"paths": paths}


def _operation(resource: ResourceType, version: str, action: str, extra: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "operationId": f"{action}{resource.kind}",
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": resource.group, "version": version, "kind": resource.kind},
        "parameters": extra,
        "responses": {"200": {"description": "OK"}},
    }


def _query(name: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": True}}


ACTION_VERBS = {"list": "list", "post": "create", "get": "get", "patch": "patch", "put": "update", "delete": "delete"}
WRITE_PARAMETERS = [_query("dryRun"), _query("fieldManager"), _query("fieldValidation")]


def openapi_document(registry: Registry, group: str, version: str) -> dict[str, Any] | None:
    served = [r for r in registry.all() if r.group == group and version in r.versions]
    if not served:
        return None
    prefix = f"/apis/{group}/{version}" if group else f"/api/{version}"
    paths: dict[str, Any] = {}
    for resource in served:
        scope = f"{prefix}/namespaces/{{namespace}}" if resource.namespaced else prefix
        collection, item = f"{scope}/{resource.plural}", f"{scope}/{resource.plural}/{{name}}"
        patch = _operation(resource, version, "patch", WRITE_PARAMETERS)
        patch["requestBody"] = {
            "content": {
                "application/json-patch+json": {"schema": {"type": "object"}},
                "application/merge-patch+json": {"schema": {"type": "object"}},
            }
        }
        operations = {
            collection: {
                "get": _operation(resource, version, "list", []),
                "post": _operation(resource, version, "post", WRITE_PARAMETERS),
            },
            item: {
                "get": _operation(resource, version, "get", []),
                "patch": patch,
                "put": _operation(resource, version, "put", WRITE_PARAMETERS),
                "delete": _operation(resource, version, "delete", [_query("dryRun")]),
            },
        }
        for path, methods in operations.items():  # only what the resource serves (reviews: create only)
            kept = {m: op for m, op in methods.items() if ACTION_VERBS[op["x-kubernetes-action"]] in resource.verbs}
            if kept:
                paths[path] = kept
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": KUBERNETES_VERSION["gitVersion"]},
        "paths": paths,
        "components": {"schemas": {}},
    }
