"""URL → what is asked for: discovery, a collection, an object, or one of its subresources."""

from __future__ import annotations

from dataclasses import dataclass

from kubesim import errors
from kubesim.resources import Registry, ResourceType

SUBRESOURCES = {"status", "log"}


@dataclass(frozen=True)
class Target:
    resource: ResourceType
    version: str
    namespace: str | None
    name: str | None
    subresource: str | None
    legacy_watch: bool

    @property
    def api_version(self) -> str:
        return self.resource.api_version(self.version)


@dataclass(frozen=True)
class GroupVersion:
    """A discovery path: /api/v1 or /apis/<group>/<version> with nothing after it."""

    group: str
    version: str


def parse(path: str, registry: Registry) -> Target | GroupVersion:
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 2 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        raise errors.no_such_path()
    if not rest:
        return GroupVersion(group, version)
    legacy_watch = rest[0] == "watch"
    if legacy_watch:
        rest = rest[1:]
    namespace = None
    if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] not in SUBRESOURCES | {"finalize"}:
        namespace, rest = rest[1], rest[2:]
    if not rest or len(rest) > 3:
        raise errors.no_such_path()
    resource = registry.serving(group, version, rest[0])
    if resource is None:
        raise errors.no_such_path()
    name = rest[1] if len(rest) > 1 else None
    subresource = rest[2] if len(rest) > 2 else None
    if namespace is not None and not resource.namespaced:
        raise errors.no_such_path()
    if name is not None and resource.namespaced and namespace is None:
        raise errors.no_such_path()
    if subresource is not None and not (
        (subresource == "status" and resource.status_subresource) or (subresource == "log" and resource.kind == "Pod")
    ):
        raise errors.no_such_path()
    return Target(resource, version, namespace, name, subresource, legacy_watch)
