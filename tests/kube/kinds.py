"""What the real server does to built-in kinds on create: defaults, server-set status, and a little validation."""

from __future__ import annotations

import base64
import re
from typing import Any

from tests.kube import errors

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


def validate_name(kind: str, name: str) -> list[dict[str, str]]:
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


def validate(kind: str, obj: dict[str, Any]) -> list[dict[str, str]]:
    validator = _VALIDATORS.get(kind)
    return validator(obj) if validator else []


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
_VALIDATORS = {"Pod": _pod_validate, "Job": _job_validate}
