"""What a request asks to do, read from its method, path and query alone as kube-apiserver's RequestInfoFactory
reads it (before any routing): the attributes that authorization decides on and the request log records."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from kubesim.auth import User

API_PREFIXES = ("api", "apis")
SPECIAL_VERBS = ("proxy", "watch")  # /api/v1/watch/namespaces/default/pods: the verb comes from the path
NAMESPACE_SUBRESOURCES = ("status", "finalize")
METHOD_VERBS = {"POST": "create", "GET": "get", "HEAD": "get", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


@dataclass(frozen=True)
class Attributes:
    """authorizer.Attributes: a resource request (group, resource, ...) or a non-resource one (path)."""

    user: User
    verb: str
    resource_request: bool
    path: str = ""
    group: str = ""
    version: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""

    @property
    def resource_path(self) -> str:
        """`pods`, or `pods/log` with a subresource: how RBAC rules and the forbidden message name it."""
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource


def watch_requested(query: Mapping[str, str]) -> bool:
    """ListOptions.Watch as the parameter codec decodes it: present and not "0" or "false"."""
    value = query.get("watch")
    return value is not None and value != "0" and value.lower() != "false"


def attributes(user: User, method: str, path: str, query: Mapping[str, str]) -> Attributes:
    """The request's verb (get, list, watch, create, update, patch, delete, deletecollection) and target."""
    parts = path.strip("/").split("/") if path.strip("/") else []
    non_resource = Attributes(user, method.lower(), False, path)
    if len(parts) < 3 or parts[0] not in API_PREFIXES:
        return non_resource
    prefix, parts = parts[0], parts[1:]
    group = ""
    if prefix == "apis":
        if len(parts) < 3:
            return non_resource  # /apis/<group>/<version>: discovery
        group, parts = parts[0], parts[1:]
    version, parts = parts[0], parts[1:]
    if parts[0] in SPECIAL_VERBS:
        if len(parts) < 2:
            return non_resource
        verb, parts = parts[0], parts[1:]
    else:
        verb = METHOD_VERBS.get(method, "")
    namespace = ""
    if parts[0] == "namespaces" and len(parts) > 1:
        namespace = parts[1]  # also a Namespace's own name: /api/v1/namespaces/x is in namespace x
        if len(parts) > 2 and parts[2] not in NAMESPACE_SUBRESOURCES:
            parts = parts[2:]
    resource = parts[0]
    name = parts[1] if len(parts) > 1 else ""
    subresource = parts[2] if len(parts) > 2 and verb != "proxy" else ""
    if not name and verb == "get":
        verb = "watch" if watch_requested(query) else "list"
        name = _name_in_field_selector(query.get("fieldSelector") or "")
    if not name and verb == "delete":
        verb = "deletecollection"
    return Attributes(user, verb, True, path, group, version, resource, subresource, namespace, name)


def _name_in_field_selector(selector: str) -> str:
    """A list or watch of `metadata.name=x` names x (so resourceNames rules can allow it), as upstream."""
    for term in selector.split(","):
        field, operator, value = term.partition("==") if "==" in term else term.partition("=")
        if operator and field.strip() == "metadata.name":
            value = value.strip()
            if value not in ("", ".", "..") and "/" not in value and "%" not in value:
                return value
    return ""
