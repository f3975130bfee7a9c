"""The kinds the test API serves: built-in ones, and custom ones made from CustomResourceDefinitions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kubesim import errors

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
STATUS_VERBS = ("get", "patch", "update")
COMMON_FIELD_LABELS = frozenset({"metadata.name", "metadata.namespace"})


@dataclass(frozen=True)
class ResourceType:
    """One resource (a plural in one group), served in one or more versions; storage is version-agnostic."""

    group: str
    versions: tuple[str, ...]
    plural: str
    singular: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    status_subresource: bool = False
    field_labels: frozenset[str] = COMMON_FIELD_LABELS
    # batch/v1 Jobs orphan their pods when deleted without a propagationPolicy (kept for compatibility upstream).
    default_propagation: str = "Background"
    schemas: dict[str, dict[str, Any]] = field(default_factory=dict, hash=False, compare=False)
    printer_columns: dict[str, list[dict[str, Any]]] = field(default_factory=dict, hash=False, compare=False)
    crd_name: str | None = None
    verbs: tuple[str, ...] = ALL_VERBS
    stored: bool = True  # False for reviews (SelfSubjectAccessReview): answered, never kept

    @property
    def key(self) -> tuple[str, str]:
        return (self.group, self.plural)

    @property
    def qualified(self) -> str:
        return errors.qualified(self.plural, self.group)

    def api_version(self, version: str) -> str:
        return f"{self.group}/{version}" if self.group else version

    @property
    def storage_version(self) -> str:
        return self.versions[0]


def _core(plural: str, kind: str, namespaced: bool = True, **kwargs: Any) -> ResourceType:
    return ResourceType("", ("v1",), plural, kind.lower(), kind, namespaced, **kwargs)


def _rbac(plural: str, kind: str, namespaced: bool) -> ResourceType:
    return ResourceType("rbac.authorization.k8s.io", ("v1",), plural, kind.lower(), kind, namespaced)


def _review(group: str, kind: str) -> ResourceType:
    """A create-only, never-stored resource: the server answers the object it was sent, decided."""
    singular = kind.lower()
    return ResourceType(group, ("v1",), singular + "s", singular, kind, False, verbs=("create",), stored=False)


POD_FIELDS = COMMON_FIELD_LABELS | {
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.nominatedNodeName",
}
EVENT_FIELDS = COMMON_FIELD_LABELS | {
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
}

BUILTINS: tuple[ResourceType, ...] = (
    _core(
        "namespaces",
        "Namespace",
        namespaced=False,
        short_names=("ns",),
        status_subresource=True,
        field_labels=COMMON_FIELD_LABELS | {"status.phase"},
        verbs=tuple(v for v in ALL_VERBS if v != "deletecollection"),
    ),
    _core(
        "nodes",
        "Node",
        namespaced=False,
        short_names=("no",),
        status_subresource=True,
        field_labels=COMMON_FIELD_LABELS | {"spec.unschedulable"},
    ),
    _core("pods", "Pod", short_names=("po",), categories=("all",), status_subresource=True, field_labels=POD_FIELDS),
    _core("events", "Event", short_names=("ev",), field_labels=EVENT_FIELDS),
    _core("configmaps", "ConfigMap", short_names=("cm",)),
    _core("secrets", "Secret"),
    _core("serviceaccounts", "ServiceAccount", short_names=("sa",)),
    ResourceType("events.k8s.io", ("v1",), "events", "event", "Event", True, short_names=("ev",)),
    ResourceType(
        "batch",
        ("v1",),
        "jobs",
        "job",
        "Job",
        True,
        categories=("all",),
        status_subresource=True,
        field_labels=COMMON_FIELD_LABELS | {"status.successful"},
        default_propagation="Orphan",
    ),
    ResourceType("coordination.k8s.io", ("v1",), "leases", "lease", "Lease", True),
    _rbac("roles", "Role", namespaced=True),
    _rbac("rolebindings", "RoleBinding", namespaced=True),
    _rbac("clusterroles", "ClusterRole", namespaced=False),
    _rbac("clusterrolebindings", "ClusterRoleBinding", namespaced=False),
    _review("authorization.k8s.io", "SelfSubjectAccessReview"),
    _review("authentication.k8s.io", "SelfSubjectReview"),
    ResourceType(
        "apiextensions.k8s.io",
        ("v1",),
        "customresourcedefinitions",
        "customresourcedefinition",
        "CustomResourceDefinition",
        False,
        short_names=("crd", "crds"),
        categories=("api-extensions",),
        status_subresource=True,
    ),
)

CRD = next(r for r in BUILTINS if r.kind == "CustomResourceDefinition")


def from_crd(crd: dict[str, Any]) -> ResourceType:
    """The resource a CRD defines: its served versions (storage version first), schemas and printer columns."""
    spec = crd["spec"]
    names = spec["names"]
    served = [v for v in spec["versions"] if v.get("served", True)]
    served.sort(key=lambda v: not v.get("storage", False))
    selectable = {s["jsonPath"].lstrip(".") for v in served for s in v.get("selectableFields", [])}
    return ResourceType(
        group=spec["group"],
        versions=tuple(v["name"] for v in served),
        plural=names["plural"],
        singular=names.get("singular", names["kind"].lower()),
        kind=names["kind"],
        namespaced=spec["scope"] == "Namespaced",
        short_names=tuple(names.get("shortNames", ())),
        categories=tuple(names.get("categories", ())),
        status_subresource=any("status" in (v.get("subresources") or {}) for v in served),
        field_labels=COMMON_FIELD_LABELS | selectable,
        schemas={v["name"]: (v.get("schema") or {}).get("openAPIV3Schema", {}) for v in served},
        printer_columns={v["name"]: v.get("additionalPrinterColumns", []) for v in served},
        crd_name=crd["metadata"]["name"],
    )


class Registry:
    """Which resource types are served, by (group, plural); CRDs add and remove entries at run time."""

    def __init__(self) -> None:
        self._types: dict[tuple[str, str], ResourceType] = {r.key: r for r in BUILTINS}

    def add(self, resource: ResourceType) -> None:
        self._types[resource.key] = resource

    def remove(self, key: tuple[str, str]) -> None:
        self._types.pop(key, None)

    def get(self, group: str, plural: str) -> ResourceType | None:
        return self._types.get((group, plural))

    def serving(self, group: str, version: str, plural: str) -> ResourceType | None:
        resource = self._types.get((group, plural))
        return resource if resource and version in resource.versions else None

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        group, _, version = api_version.rpartition("/")
        return next(
            (r for r in self._types.values() if r.group == group and r.kind == kind and version in r.versions), None
        )

    def all(self) -> list[ResourceType]:
        return list(self._types.values())

    def group_versions(self) -> dict[str, list[str]]:
        """Group → served versions, preferred first (the storage version of the first resource in it)."""
        result: dict[str, list[str]] = {}
        for resource in self._types.values():
            versions = result.setdefault(resource.group, [])
            versions.extend(v for v in resource.versions if v not in versions)
        return result
