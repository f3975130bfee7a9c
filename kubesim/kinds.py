"""What the real server does to built-in kinds on create: defaults, server-set status, and a little validation."""

from __future__ import annotations

import base64
import re
from typing import Any

from kubesim import errors

DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
SUBDOMAIN_MESSAGE = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start "
    "and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
LABEL_MESSAGE = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end "
    "with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)


RBAC_KINDS = ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding")
RBAC_GROUP = "rbac.authorization.k8s.io"
REF_FIELDS = (("APIGroup", "apiGroup"), ("Kind", "kind"), ("Name", "name"))  # how Go prints a RoleRef


def validate_name(kind: str, name: str) -> list[dict[str, str]]:
    if kind in RBAC_KINDS:  # RBAC names are path segments: `system:discovery` is fine
        return [errors.cause("metadata.name", f'Invalid value: "{name}": {m}') for m in _path_segment(name)]
    label_only = kind in ("Namespace",)
    pattern, message = (DNS_LABEL, LABEL_MESSAGE) if label_only else (DNS_SUBDOMAIN, SUBDOMAIN_MESSAGE)
    if len(name) > (63 if label_only else 253) or not pattern.match(name):
        return [errors.cause("metadata.name", f'Invalid value: "{name}": {message}')]
    return []


def prepare_create(kind: str, obj: dict[str, Any]) -> None:
    """Server-side defaults for a new object of a built-in kind (in place)."""
    preparer = _PREPARERS.get(kind)
    if preparer:
        preparer(obj)


def normalise(kind: str, obj: dict[str, Any]) -> None:
    """On every write: what the API converts (a Secret's stringData becomes base64 data)."""
    if kind == "Secret":
        data = obj.setdefault("data", {})
        for key, value in (obj.pop("stringData", None) or {}).items():
            data[key] = base64.b64encode(str(value).encode()).decode()
        obj.setdefault("type", "Opaque")
    if kind in ("RoleBinding", "ClusterRoleBinding"):  # v1 defaulting: User and Group subjects are RBAC's
        for subject in obj.get("subjects") or []:
            if isinstance(subject, dict) and not subject.get("apiGroup") and subject.get("kind") in ("User", "Group"):
                subject["apiGroup"] = RBAC_GROUP


def validate(kind: str, obj: dict[str, Any]) -> list[dict[str, str]]:
    validator = _VALIDATORS.get(kind)
    return validator(obj) if validator else []


def validate_update(kind: str, obj: dict[str, Any], old: dict[str, Any]) -> list[dict[str, str]]:
    """What may not change: a binding's roleRef."""
    if kind in ("RoleBinding", "ClusterRoleBinding") and obj.get("roleRef") != old.get("roleRef"):
        ref = obj.get("roleRef") or {}
        shown = ", ".join(f'{key}:"{ref.get(field, "")}"' for key, field in REF_FIELDS)
        return [errors.cause("roleRef", f"Invalid value: rbac.RoleRef{{{shown}}}: cannot change roleRef")]
    return []


def _path_segment(name: str) -> list[str]:
    if name in (".", ".."):
        return [f"may not be '{name}'"]
    return [f"may not contain '{c}'" for c in "/%" if c in name]


def _rules_validate(obj: dict[str, Any]) -> list[dict[str, str]]:
    causes = []
    for index, rule in enumerate(obj.get("rules") or []):
        path = f"rules[{index}]"
        if not rule.get("verbs"):
            causes.append(
                errors.cause(
                    f"{path}.verbs", "Required value: verbs must contain at least one value", "FieldValueRequired"
                )
            )
        if rule.get("nonResourceURLs"):
            if obj.get("kind") == "Role":
                causes.append(_invalid_urls(path, rule, "namespaced rules cannot apply to non-resource URLs"))
            if rule.get("apiGroups") or rule.get("resources") or rule.get("resourceNames"):
                causes.append(
                    _invalid_urls(path, rule, "rules cannot apply to both regular resources and non-resource URLs")
                )
            continue
        for key, what in (("apiGroups", "api group"), ("resources", "resource")):
            if not rule.get(key):
                message = f"Required value: resource rules must supply at least one {what}"
                causes.append(errors.cause(f"{path}.{key}", message, "FieldValueRequired"))
    return causes


def _invalid_urls(path: str, rule: dict[str, Any], why: str) -> dict[str, str]:
    urls = "[]string{" + ", ".join(f'"{u}"' for u in rule["nonResourceURLs"]) + "}"
    return errors.cause(f"{path}.nonResourceURLs", f"Invalid value: {urls}: {why}")


def _binding_validate(obj: dict[str, Any]) -> list[dict[str, str]]:
    """roleRef (RBAC's group; Role or ClusterRole, ClusterRole only for a ClusterRoleBinding; a name) and
    subjects (ServiceAccount, User or Group)."""
    ref, cluster = obj.get("roleRef") or {}, obj.get("kind") == "ClusterRoleBinding"
    causes = []
    if ref.get("apiGroup") != RBAC_GROUP:
        causes.append(_unsupported("roleRef.apiGroup", ref.get("apiGroup", ""), [RBAC_GROUP]))
    kinds = ["ClusterRole"] if cluster else ["Role", "ClusterRole"]
    if ref.get("kind") not in kinds:
        causes.append(_unsupported("roleRef.kind", ref.get("kind", ""), kinds))
    name = ref.get("name") or ""
    if not name:
        causes.append(errors.cause("roleRef.name", "Required value", "FieldValueRequired"))
    causes += [errors.cause("roleRef.name", f'Invalid value: "{name}": {m}') for m in _path_segment(name)]
    for index, subject in enumerate(obj.get("subjects") or []):
        causes += _subject_validate(subject, f"subjects[{index}]", cluster)
    return causes


def _subject_validate(subject: dict[str, Any], path: str, cluster: bool) -> list[dict[str, str]]:
    kind, name, group = subject.get("kind", ""), subject.get("name", ""), subject.get("apiGroup", "")
    causes = [] if name else [errors.cause(f"{path}.name", "Required value", "FieldValueRequired")]
    if kind == "ServiceAccount":
        if name and (len(name) > 253 or not DNS_SUBDOMAIN.match(name)):
            causes.append(errors.cause(f"{path}.name", f'Invalid value: "{name}": {SUBDOMAIN_MESSAGE}'))
        if group:
            causes.append(_unsupported(f"{path}.apiGroup", group, [""]))
        if cluster and not subject.get("namespace"):
            causes.append(errors.cause(f"{path}.namespace", "Required value", "FieldValueRequired"))
    elif kind in ("User", "Group"):
        if group != RBAC_GROUP:
            causes.append(_unsupported(f"{path}.apiGroup", group, [RBAC_GROUP]))
    else:
        causes.append(_unsupported(f"{path}.kind", kind, ["ServiceAccount", "User", "Group"]))
    return causes


def _unsupported(field: str, value: str, supported: list[str]) -> dict[str, str]:
    listed = ", ".join(f'"{s}"' for s in supported)
    return errors.cause(field, f'Unsupported value: "{value}": supported values: {listed}', "FieldValueNotSupported")


def _namespace(obj: dict[str, Any]) -> None:
    obj.setdefault("metadata", {}).setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"]["name"]
    obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    obj["status"] = {"phase": "Active"}


def _container_defaults(container: dict[str, Any]) -> None:
    image = container.get("image", "")
    container.setdefault(
        "imagePullPolicy", "Always" if image.endswith(":latest") or ":" not in image else "IfNotPresent"
    )
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    container.setdefault("resources", {})


def _pod_spec_defaults(spec: dict[str, Any], restart_policy: str = "Always") -> None:
    spec.setdefault("restartPolicy", restart_policy)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("securityContext", {})
    for container in spec.get("containers", []) + spec.get("initContainers", []):
        _container_defaults(container)


def _pod(obj: dict[str, Any]) -> None:
    _pod_spec_defaults(obj.setdefault("spec", {}))
    obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}


def _job(obj: dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    for key, value in (
        ("parallelism", 1),
        ("completions", 1),
        ("backoffLimit", 6),
        ("completionMode", "NonIndexed"),
        ("suspend", False),
        ("podReplacementPolicy", "TerminatingOrFailed"),
        ("manualSelector", False),
    ):
        spec.setdefault(key, value)
    uid, name = obj["metadata"]["uid"], obj["metadata"]["name"]
    template = spec.setdefault("template", {})
    labels = template.setdefault("metadata", {}).setdefault("labels", {})
    labels.update(
        {
            "batch.kubernetes.io/controller-uid": uid,
            "batch.kubernetes.io/job-name": name,
            "controller-uid": uid,
            "job-name": name,
        }
    )
    spec.setdefault("selector", {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}})
    _pod_spec_defaults(template.setdefault("spec", {}), restart_policy="Never")
    obj["status"] = {}


def _node(obj: dict[str, Any]) -> None:
    status = obj.setdefault("status", {})
    if "allocatable" not in status and "capacity" in status:
        status["allocatable"] = dict(status["capacity"])


def _pod_validate(obj: dict[str, Any]) -> list[dict[str, str]]:
    return _containers_validate(obj.get("spec") or {}, "spec")


def _job_validate(obj: dict[str, Any]) -> list[dict[str, str]]:
    spec = obj.get("spec") or {}
    template_spec = (spec.get("template") or {}).get("spec") or {}
    causes = _containers_validate(template_spec, "spec.template.spec")
    if template_spec.get("restartPolicy") not in ("Never", "OnFailure"):
        causes.append(
            errors.cause(
                "spec.template.spec.restartPolicy",
                f'Unsupported value: "{template_spec.get("restartPolicy")}": supported values: "OnFailure", "Never"',
                "FieldValueNotSupported",
            )
        )
    return causes


def _containers_validate(spec: dict[str, Any], path: str) -> list[dict[str, str]]:
    containers = spec.get("containers") or []
    if not containers:
        return [errors.cause(f"{path}.containers", "Required value", "FieldValueRequired")]
    causes = []
    for index, container in enumerate(containers):
        for key in ("name", "image"):
            if not container.get(key):
                causes.append(errors.cause(f"{path}.containers[{index}].{key}", "Required value", "FieldValueRequired"))
    return causes


_PREPARERS = {"Namespace": _namespace, "Pod": _pod, "Job": _job, "Node": _node}
_VALIDATORS = {
    "Pod": _pod_validate,
    "Job": _job_validate,
    "Role": _rules_validate,
    "ClusterRole": _rules_validate,
    "RoleBinding": _binding_validate,
    "ClusterRoleBinding": _binding_validate,
}
