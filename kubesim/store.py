"""The API's state: every object, one global resourceVersion, the event history watches resume from.

All reads and writes go through one lock, so that a write, its resourceVersion and the event it fans out to
watches are one step, as in etcd. Listeners run under that lock and must not block.
"""

from __future__ import annotations

import builtins
import copy
import itertools
import random
import threading
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any

from kubesim import admission, crds, errors, kinds, rbac
from kubesim.resources import CRD, Registry, ResourceType
from kubesim.timestamps import now
from kubesim.views import Event, Views

Object = dict[str, Any]
GENERATE_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
# Kinds whose PUT may omit metadata.resourceVersion (AllowUnconditionalUpdate upstream); CRs and Leases may not.
UNCONDITIONAL_UPDATE = {
    ("", "pods"),
    ("", "namespaces"),
    ("", "nodes"),
    ("", "configmaps"),
    ("", "secrets"),
    ("", "events"),
    ("", "serviceaccounts"),
    ("batch", "jobs"),
    rbac.ROLES,
    rbac.ROLE_BINDINGS,
    rbac.CLUSTER_ROLES,
    rbac.CLUSTER_ROLE_BINDINGS,
}


class Store(Views):
    """Objects by resource and (namespace, name); `list` is a method here, so annotations say builtins.list."""

    def __init__(self, history_size: int = 10_000) -> None:
        self.lock = threading.RLock()
        self.registry = Registry()
        self._objects: dict[tuple[str, str], dict[tuple[str, str], Object]] = {}
        self._uids: dict[str, tuple[tuple[str, str], str, str]] = {}
        self._counter = itertools.count(100)
        self._rv = next(self._counter)
        self._history: deque[Event] = deque(maxlen=history_size)
        self._floor = self._rv  # the oldest resourceVersion a watch may resume from
        self._listeners: builtins.list[Callable[[Event], None]] = []
        for name in SYSTEM_NAMESPACES:
            self.create(self.registry.get("", "namespaces"), None, {"metadata": {"name": name}})  # type: ignore[arg-type]
        for role, binding in rbac.BOOTSTRAP_POLICY:  # cluster-admin, system:discovery...: as a new cluster has them
            self.create(self.registry.get(*rbac.CLUSTER_ROLES), None, role)  # type: ignore[arg-type]
            self.create(self.registry.get(*rbac.CLUSTER_ROLE_BINDINGS), None, binding)  # type: ignore[arg-type]

    # ---- writing

    def create(
        self,
        resource: ResourceType,
        namespace: str | None,
        body: Object,
        *,
        dry_run: bool = False,
        field_validation: str | None = None,
        warnings: builtins.list[str] | None = None,
    ) -> Object:
        if not isinstance(body, dict):
            raise errors.bad_request("the body of the request was not a JSON object")
        obj = copy.deepcopy(body)
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise errors.bad_request("metadata must be an object")
        admission.check_namespace(resource, namespace, meta)
        obj["apiVersion"], obj["kind"] = resource.api_version(resource.storage_version), resource.kind
        with self.lock:
            name = meta.get("name") or self._generate_name(resource, namespace, meta.get("generateName"))
            if not name:
                raise errors.invalid(
                    resource.kind,
                    resource.group,
                    "",
                    [errors.cause("metadata.name", "name or generateName is required", "FieldValueRequired")],
                )
            if namespace:
                self._require_live_namespace(namespace, resource, name)
            if (namespace or "", name) in self._objects.get(resource.key, {}):
                raise errors.already_exists(resource.plural, resource.group, name)
            meta.update(name=name, uid=str(uuid.uuid4()), creationTimestamp=now())
            if admission.tracks_generation(resource):
                meta["generation"] = 1
            else:
                meta.pop("generation", None)
            for server_field in ("deletionTimestamp", "deletionGracePeriodSeconds", "resourceVersion", "managedFields"):
                meta.pop(server_field, None)
            if namespace:
                meta["namespace"] = namespace
            if resource.status_subresource and resource.kind not in ("Node",):
                obj.pop("status", None)
            kinds.prepare_create(resource.kind, obj)
            admission.admit(resource, obj, None, field_validation, warnings)
            if resource.key == CRD.key:
                crds.prepare(obj, self.registry)
            if dry_run:
                return obj
            self._commit("ADDED", resource, None, obj)
            if resource.key == CRD.key:
                self.registry.add(crds.resource_type(obj))
            return copy.deepcopy(obj)

    def replace(
        self,
        resource: ResourceType,
        namespace: str | None,
        name: str,
        body: Object,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
        field_validation: str | None = None,
        warnings: builtins.list[str] | None = None,
    ) -> Object:
        if not isinstance(body, dict) or not isinstance(body.get("metadata", {}), dict):
            raise errors.bad_request("the body of the request was not a JSON object")
        meta = body.setdefault("metadata", {})
        if meta.get("name", name) != name:
            raise errors.bad_request(
                f"the name of the object ({meta['name']}) does not match the name on the URL ({name})"
            )
        with self.lock:
            old = self.get(resource, namespace, name)
            given = meta.get("resourceVersion")
            if not given and resource.key not in UNCONDITIONAL_UPDATE:
                raise errors.invalid(
                    resource.plural,
                    resource.group,
                    name,
                    [errors.cause("metadata.resourceVersion", "Invalid value: 0: must be specified for an update")],
                )
            if given and given != old["metadata"]["resourceVersion"]:
                raise errors.conflict(resource.plural, resource.group, name)
            return self._update(resource, old, body, subresource, dry_run, field_validation, warnings)

    def patch(
        self,
        resource: ResourceType,
        namespace: str | None,
        name: str,
        apply: Callable[[Object], Object],
        *,
        subresource: str | None = None,
        dry_run: bool = False,
        field_validation: str | None = None,
        warnings: builtins.list[str] | None = None,
    ) -> Object:
        """`apply` turns the current object into the patched one; a resourceVersion it sets is a precondition."""
        with self.lock:
            old = self._stored(resource, namespace, name)  # read only: `apply` gets a copy
            new = apply(copy.deepcopy(old))
            if not isinstance(new, dict) or not isinstance(new.get("metadata"), dict):
                raise errors.bad_request("the patched object is not a Kubernetes object")
            if (
                new["metadata"].get("resourceVersion", old["metadata"]["resourceVersion"])
                != old["metadata"]["resourceVersion"]
            ):
                raise errors.conflict(resource.plural, resource.group, name)
            return self._update(resource, old, new, subresource, dry_run, field_validation, warnings, owned=True)

    def delete(
        self,
        resource: ResourceType,
        namespace: str | None,
        name: str,
        options: Object | None = None,
        *,
        dry_run: bool = False,
    ) -> Object:
        """Remove at once, or mark deleting (deletionTimestamp) while finalizers, a namespace's content or a running
        pod's grace period hold it; returns the object."""
        options = options or {}
        with self.lock:
            obj = self.get(resource, namespace, name)
            meta = obj["metadata"]
            admission.check_preconditions(resource, obj, options.get("preconditions") or {})
            grace = admission.grace_period(resource, obj, options)
            if meta.get("deletionTimestamp"):
                if resource.kind == "Pod" and grace == 0 and not meta.get("finalizers") and not dry_run:
                    self._remove(resource, obj)  # the kubelet's final delete, or a forced one
                return obj
            finalizers = list(meta.get("finalizers") or [])
            policy = admission.propagation(resource, options)
            extra = {"Foreground": "foregroundDeletion", "Orphan": "orphan"}.get(policy)
            if extra and extra not in finalizers and self._has_dependents(meta["uid"]):
                finalizers.append(extra)
            namespace_content = resource.kind == "Namespace" and (obj.get("spec") or {}).get("finalizers")
            if dry_run:
                return obj
            if not finalizers and not namespace_content and not grace:
                self._remove(resource, obj)
                return obj
            new = copy.deepcopy(obj)
            new["metadata"].update(
                deletionTimestamp=now(grace), deletionGracePeriodSeconds=grace, finalizers=finalizers
            )
            if not finalizers:
                del new["metadata"]["finalizers"]
            if admission.tracks_generation(resource):
                new["metadata"]["generation"] = meta.get("generation", 1) + 1
            if resource.kind == "Namespace":
                new["status"] = {"phase": "Terminating"}
            self._commit("MODIFIED", resource, obj, new)
            return copy.deepcopy(new)

    def finalize_namespace(self, name: str) -> None:
        """What the namespace controller does once a deleting namespace is empty: drop `kubernetes`, remove it."""
        with self.lock:
            namespaces = self.registry.get("", "namespaces")
            assert namespaces
            obj = self.find(namespaces, None, name)
            if obj and obj["metadata"].get("deletionTimestamp"):
                new = copy.deepcopy(obj)
                new["spec"]["finalizers"] = []
                if new["metadata"].get("finalizers"):
                    self._commit("MODIFIED", namespaces, obj, new)
                else:
                    self._remove(namespaces, new)

    # ---- internals

    def _update(
        self,
        resource: ResourceType,
        old: Object,
        body: Object,
        subresource: str | None,
        dry_run: bool,
        field_validation: str | None,
        warnings: builtins.list[str] | None,
        *,
        owned: bool = False,
    ) -> Object:
        """`owned`: `body` is this call's own copy, to change in place."""
        new = admission.merge_update(resource, old, body if owned else copy.deepcopy(body), subresource)
        admission.admit(resource, new, old, field_validation, warnings)
        meta, old_meta = new["metadata"], old["metadata"]
        admission.check_finalizers(resource, old, new)
        admission.omit_empty(meta)
        spec_changed = admission.content(new, resource) != admission.content(old, resource)
        if admission.tracks_generation(resource) and spec_changed:
            meta["generation"] = old_meta.get("generation", 1) + 1
        meta["resourceVersion"] = old_meta["resourceVersion"]
        if new == old or dry_run:
            return new
        held_by_namespace_finalizers = resource.kind == "Namespace" and (new.get("spec") or {}).get("finalizers")
        if meta.get("deletionTimestamp") and not meta.get("finalizers") and not held_by_namespace_finalizers:
            self._remove(resource, new)
            return copy.deepcopy(new)
        self._commit("MODIFIED", resource, old, new)
        if resource.key == CRD.key:
            self.registry.add(crds.resource_type(new))
        return copy.deepcopy(new)

    def _commit(self, kind: str, resource: ResourceType, old: Object | None, new: Object) -> None:
        admission.omit_empty(new["metadata"])
        self._rv = next(self._counter)
        new["metadata"]["resourceVersion"] = str(self._rv)
        key = (new["metadata"].get("namespace", ""), new["metadata"]["name"])
        self._objects.setdefault(resource.key, {})[key] = new
        self._uids[new["metadata"]["uid"]] = (resource.key, *key)
        self._publish(Event(kind, resource, copy.deepcopy(new), old, self._rv))

    def _remove(self, resource: ResourceType, obj: Object) -> None:
        key = (obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
        old = self._objects.get(resource.key, {}).pop(key)
        self._uids.pop(old["metadata"]["uid"], None)
        self._rv = next(self._counter)
        obj["metadata"]["resourceVersion"] = str(self._rv)
        self._publish(Event("DELETED", resource, copy.deepcopy(obj), old, self._rv))
        if resource.key == CRD.key:
            self._drop_custom_resources(obj)

    def _drop_custom_resources(self, crd: Object) -> None:
        """Deleting a CRD deletes its objects (upstream: the customresourcecleanup finalizer), then the type."""
        gone = self.registry.get(crd["spec"]["group"], crd["spec"]["names"]["plural"])
        if gone is None:
            return
        for obj in list(self._objects.get(gone.key, {}).values()):
            self._remove(gone, copy.deepcopy(obj))
        self._objects.pop(gone.key, None)
        self.registry.remove(gone.key)

    def _publish(self, event: Event) -> None:
        self._history.append(event)
        if len(self._history) == self._history.maxlen:
            self._floor = self._history[0].resource_version - 1
        for listener in list(self._listeners):
            listener(event)

    def _generate_name(self, resource: ResourceType, namespace: str | None, prefix: str | None) -> str | None:
        if not prefix:
            return None
        existing = self._objects.get(resource.key, {})
        for _attempt in range(100):
            name = prefix + "".join(random.choices(GENERATE_NAME_ALPHABET, k=5))
            if (namespace or "", name) not in existing:
                return name
        raise errors.already_exists(resource.plural, resource.group, prefix)

    def _require_live_namespace(self, namespace: str, resource: ResourceType, name: str) -> None:
        ns = self._objects.get(("", "namespaces"), {}).get(("", namespace))
        if ns is None:
            raise errors.not_found("namespaces", "", namespace)
        if ns["metadata"].get("deletionTimestamp"):
            raise errors.forbidden(
                resource.plural,
                resource.group,
                name,
                f"unable to create new content in namespace {namespace} because it is being terminated",
            )

    def _has_dependents(self, uid: str) -> bool:
        return any(
            ref.get("uid") == uid
            for objects in self._objects.values()
            for obj in objects.values()
            for ref in obj["metadata"].get("ownerReferences") or []
        )
