"""What the server does to a write before it commits it: server-owned fields, the status split, validation,
generation, deletion options. Plain functions over plain objects; the store calls them under its lock."""

from __future__ import annotations

import copy
from typing import Any

from kubesim import cel, crds, errors, kinds, schema
from kubesim.resources import CRD, ResourceType

Object = dict[str, Any]
GENERATION_KINDS = {"Job", "CustomResourceDefinition"}
OMITTED_WHEN_EMPTY = ("labels", "annotations", "finalizers", "ownerReferences", "managedFields")


def omit_empty(meta: Object) -> None:
    """Go's omitempty: empty labels, annotations, finalizers... never come back from the real server."""
    for key in [k for k in OMITTED_WHEN_EMPTY if k in meta and not meta[k]]:
        del meta[key]


def check_finalizers(resource: ResourceType, old: Object, new: Object) -> None:
    """Once an object is being deleted, its finalizers may only go away."""
    if not old["metadata"].get("deletionTimestamp"):
        return
    added = set(new["metadata"].get("finalizers") or []) - set(old["metadata"].get("finalizers") or [])
    if added:
        message = (
            "Forbidden: no new finalizers can be added if the object is being deleted, "
            f"found new finalizers {sorted(added)!r}"
        )
        cause = errors.cause("metadata.finalizers", message, "FieldValueForbidden")
        raise errors.invalid(resource.kind, resource.group, old["metadata"]["name"], [cause])


def merge_update(resource: ResourceType, old: Object, new: Object, subresource: str | None) -> Object:
    """Server-owned metadata stays; with a status subresource, each endpoint writes only its own part."""
    if subresource == "status":
        merged = copy.deepcopy(old)
        if "status" in new:
            merged["status"] = new["status"]
        else:
            merged.pop("status", None)
        return merged
    meta = new.setdefault("metadata", {})
    for key in (
        "name",
        "namespace",
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
        "generateName",
    ):
        if key in old["metadata"]:
            meta[key] = old["metadata"][key]
        else:
            meta.pop(key, None)
    meta.pop("managedFields", None)
    new["apiVersion"], new["kind"] = old["apiVersion"], old["kind"]
    if resource.status_subresource:
        if "status" in old:
            new["status"] = copy.deepcopy(old["status"])
        else:
            new.pop("status", None)
    return new


def admit(
    resource: ResourceType,
    obj: Object,
    old: Object | None,
    field_validation: str | None,
    warnings: list[str] | None,
) -> None:
    """Validation for the kind: CR schemas (prune, default, validate) or the built-in checks."""
    name = obj["metadata"]["name"]
    kinds.normalise(resource.kind, obj)
    causes = kinds.validate_name(resource.kind, name)
    if resource.crd_name:
        spec_schema = resource.schemas.get(resource.storage_version) or {}
        unknown = schema.prune(obj, spec_schema)
        if unknown and field_validation == "Strict":
            raise errors.bad_request(
                "strict decoding error: " + ", ".join(f'unknown field "{path}"' for path in unknown)
            )
        if unknown and warnings is not None and field_validation != "Ignore":
            warnings.extend(f'unknown field "{path}"' for path in unknown)
        schema.apply_defaults(obj, spec_schema)
        causes += schema.validate(obj, spec_schema, old)
        causes += cel.check(obj, old, spec_schema)
    else:
        causes += kinds.validate(resource.kind, obj)
        if old is not None:
            causes += kinds.validate_update(resource.kind, obj, old)
        if resource.key == CRD.key:
            causes += crds.validate(obj)
    if causes:
        raise errors.invalid(resource.kind, resource.group, name, causes)


def check_namespace(resource: ResourceType, namespace: str | None, meta: Object) -> None:
    given = meta.get("namespace")
    if resource.namespaced and given and given != namespace:
        raise errors.bad_request(
            "the namespace of the provided object does not match the namespace sent on the request"
        )
    if not resource.namespaced:
        meta.pop("namespace", None)


def check_preconditions(resource: ResourceType, obj: Object, preconditions: Object) -> None:
    meta = obj["metadata"]
    for field, label in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
        wanted = preconditions.get(field)
        if wanted and wanted != meta[field]:
            raise errors.conflict(
                resource.plural,
                resource.group,
                meta["name"],
                f"Precondition failed: {label} in precondition: {wanted}, {label} in object meta: {meta[field]}",
            )


def propagation(resource: ResourceType, options: Object) -> str:
    policy = options.get("propagationPolicy")
    if policy is None and options.get("orphanDependents") is not None:
        policy = "Orphan" if options["orphanDependents"] else "Background"
    policy = policy or resource.default_propagation
    if policy not in ("Background", "Foreground", "Orphan"):
        supported = '"Foreground", "Background", "Orphan", "nil"'
        message = f'Unsupported value: "{policy}": supported values: {supported}'
        cause = errors.cause("propagationPolicy", message, "FieldValueNotSupported")
        raise errors.invalid("DeleteOptions", "", "", [cause])
    return policy


def grace_period(resource: ResourceType, obj: Object, options: Object) -> int:
    """Seconds a pod gets to stop: only a pod bound to a node and not finished has any (its kubelet ends it)."""
    if resource.kind != "Pod":
        return 0
    given = options.get("gracePeriodSeconds")
    if given is not None:
        return max(int(given), 0)
    if not (obj.get("spec") or {}).get("nodeName") or (obj.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        return 0
    return int((obj.get("spec") or {}).get("terminationGracePeriodSeconds", 30))


def tracks_generation(resource: ResourceType) -> bool:
    """Custom resources and the built-ins whose strategy sets metadata.generation (Jobs, CRDs); not ConfigMaps."""
    return bool(resource.crd_name) or resource.kind in GENERATION_KINDS


def content(obj: Object, resource: ResourceType) -> Object:
    """What `generation` tracks: everything but metadata (and status, where status is a subresource)."""
    skipped = {"metadata", "apiVersion", "kind"} | ({"status"} if resource.status_subresource else set())
    return {k: v for k, v in obj.items() if k not in skipped}
