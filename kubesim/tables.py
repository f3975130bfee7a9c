"""`Accept: application/json;as=Table;g=meta.k8s.io;v=v1` answers: what `kubectl get` prints.

Built-in kinds get the columns their upstream printers show; custom resources get Name, their
additionalPrinterColumns and Age, as the apiextensions server renders them.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable
from typing import Any

from kubesim import jsonpath
from kubesim.resources import ResourceType
from kubesim.timestamps import parse

Object = dict[str, Any]
NAME_COLUMN = {
    "name": "Name",
    "type": "string",
    "format": "name",
    "priority": 0,
    "description": "Name must be unique within a namespace. More info: "
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names",
}
AGE_COLUMN = {
    "name": "Age",
    "type": "string",
    "format": "",
    "priority": 0,
    "description": "CreationTimestamp is a timestamp representing the server time when this object was created.",
}


def human_duration(seconds: float) -> str:
    """k8s.io/apimachinery/pkg/util/duration.HumanDuration, in short."""
    seconds = int(max(seconds, 0))
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        return f"{minutes}m{seconds % 60}s" if seconds % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 48:
        return f"{hours}h"
    return f"{hours // 24}d"


def age(timestamp: str | None) -> str:
    if not timestamp:
        return "<unknown>"
    return human_duration((datetime.datetime.now(datetime.UTC) - parse(timestamp)).total_seconds())


def _column(name: str, kind: str = "string", priority: int = 0, description: str = "") -> dict[str, Any]:
    return {"name": name, "type": kind, "format": "", "description": description, "priority": priority}


def _pod_row(pod: Object) -> list[Any]:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    containers = (pod.get("spec") or {}).get("containers") or []
    ready = sum(1 for s in statuses if s.get("ready"))
    restarts = sum(s.get("restartCount", 0) for s in statuses)
    reason = (pod.get("status") or {}).get("phase", "Unknown")
    for status in statuses:
        state = status.get("state") or {}
        if "waiting" in state and state["waiting"].get("reason"):
            reason = state["waiting"]["reason"]
        elif "terminated" in state:
            reason = state["terminated"].get("reason") or "Completed"
    if pod["metadata"].get("deletionTimestamp"):
        reason = "Terminating"
    status = pod.get("status") or {}
    return [
        f"{ready}/{len(containers)}",
        reason,
        restarts,
        age(pod["metadata"].get("creationTimestamp")),
        status.get("podIP") or "<none>",
        (pod.get("spec") or {}).get("nodeName") or "<none>",
        "<none>",
        "<none>",
    ]


def _job_row(job: Object) -> list[Any]:
    status, spec = job.get("status") or {}, job.get("spec") or {}
    conditions = {c["type"]: c["status"] for c in status.get("conditions") or []}
    state = (
        "Complete"
        if conditions.get("Complete") == "True"
        else "Failed"
        if conditions.get("Failed") == "True"
        else "Running"
    )
    duration = ""
    if status.get("startTime"):
        end = parse(status["completionTime"]) if status.get("completionTime") else datetime.datetime.now(datetime.UTC)
        duration = human_duration((end - parse(status["startTime"])).total_seconds())
    containers = spec.get("template", {}).get("spec", {}).get("containers", [])
    return [
        state,
        f"{status.get('succeeded', 0)}/{spec.get('completions', 1)}",
        duration,
        age(job["metadata"].get("creationTimestamp")),
        ",".join(c.get("name", "") for c in containers),
        ",".join(c.get("image", "") for c in containers),
        ",".join(f"{k}={v}" for k, v in (spec.get("selector") or {}).get("matchLabels", {}).items()),
    ]


def _simple_row(obj: Object) -> list[Any]:
    return [age(obj["metadata"].get("creationTimestamp"))]


def _namespace_row(obj: Object) -> list[Any]:
    return [(obj.get("status") or {}).get("phase", ""), age(obj["metadata"].get("creationTimestamp"))]


def _event_row(event: Object) -> list[Any]:
    involved, source = event.get("involvedObject") or {}, event.get("source") or {}
    last = event.get("lastTimestamp") or event.get("eventTime") or event["metadata"].get("creationTimestamp")
    first = event.get("firstTimestamp") or event.get("eventTime")
    source_text = ", ".join(v for v in (source.get("component"), source.get("host")) if v)
    return [
        age(last),
        event.get("type", ""),
        event.get("reason", ""),
        f"{str(involved.get('kind', '')).lower()}/{involved.get('name', '')}",
        involved.get("fieldPath", ""),
        source_text,
        event.get("message", ""),
        age(first),
        event.get("count", 1),
        event["metadata"]["name"],
    ]


def _role_row(role: Object) -> list[Any]:
    return [role["metadata"].get("creationTimestamp", "")]


def _binding_row(binding: Object) -> list[Any]:
    """Role, Age, then (wide) the subjects by kind; service accounts as namespace/name."""
    ref, subjects = binding.get("roleRef") or {}, binding.get("subjects") or []

    def named(kind: str) -> str:
        return ", ".join(
            f"{s.get('namespace', '')}/{s.get('name', '')}" if kind == "ServiceAccount" else s.get("name", "")
            for s in subjects
            if s.get("kind") == kind
        )

    return [
        f"{ref.get('kind', '')}/{ref.get('name', '')}",
        age(binding["metadata"].get("creationTimestamp")),
        named("User"),
        named("Group"),
        named("ServiceAccount"),
    ]


ROLE_COLUMNS = ([{**AGE_COLUMN, "name": "Created At", "type": "date"}], _role_row)
BINDING_COLUMNS = (
    [
        _column("Role", description="RoleRef can reference a Role in the current namespace or a ClusterRole."),
        AGE_COLUMN,
        _column("Users", priority=1, description="Users in the roleBinding"),
        _column("Groups", priority=1, description="Groups in the roleBinding"),
        _column("ServiceAccounts", priority=1, description="ServiceAccounts in the roleBinding"),
    ],
    _binding_row,
)

EVENT_COLUMNS = [
    _column("Last Seen"),
    _column("Type"),
    _column("Reason"),
    _column("Object"),
    _column("Subobject", priority=1),
    _column("Source", priority=1),
    _column("Message"),
    _column("First Seen", priority=1),
    _column("Count", priority=1),
    _column("Name", priority=1),
]

BUILTIN_COLUMNS: dict[str, tuple[list[dict[str, Any]], Callable[[Object], list[Any]]]] = {
    "Pod": (
        [
            _column("Ready"),
            _column("Status"),
            _column("Restarts", "string"),
            AGE_COLUMN,
            _column("IP", priority=1),
            _column("Node", priority=1),
            _column("Nominated Node", priority=1),
            _column("Readiness Gates", priority=1),
        ],
        _pod_row,
    ),
    "Job": (
        [
            _column("Status"),
            _column("Completions"),
            _column("Duration"),
            AGE_COLUMN,
            _column("Containers", priority=1),
            _column("Images", priority=1),
            _column("Selector", priority=1),
        ],
        _job_row,
    ),
    "Namespace": ([_column("Status"), AGE_COLUMN], _namespace_row),
    "Role": ROLE_COLUMNS,
    "ClusterRole": ROLE_COLUMNS,
    "RoleBinding": BINDING_COLUMNS,
    "ClusterRoleBinding": BINDING_COLUMNS,
}


def _custom_cell(obj: Object, column: dict[str, Any]) -> Any:
    values = jsonpath.find(obj, column["jsonPath"])
    if not values or values[0] is None:
        return None
    value = values[0]
    if column.get("type") == "date":
        return age(value) if isinstance(value, str) else None
    if column.get("type") in ("integer", "number", "boolean"):
        return value
    return value if isinstance(value, str) else json.dumps(value)


DEFAULT_PRINTER_COLUMNS = [{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}]


def _columns_and_cells(resource: ResourceType, version: str) -> tuple[list[Object], Callable[[Object], list[Any]]]:
    """Custom resources: Name, then the CRD's additionalPrinterColumns (Age only when it declares none, as the
    apiextensions defaulting does). Events put Name last; other built-ins: Name, then their printer's columns."""
    if resource.crd_name:
        custom = resource.printer_columns.get(version) or DEFAULT_PRINTER_COLUMNS
        columns = [NAME_COLUMN] + [
            {
                "name": c["name"],
                "type": c.get("type", "string"),
                "format": c.get("format", ""),
                "description": c.get("description", ""),
                "priority": c.get("priority", 0),
            }
            for c in custom
        ]
        return columns, lambda obj: [obj["metadata"]["name"], *(_custom_cell(obj, c) for c in custom)]
    if resource.kind == "Event":
        return EVENT_COLUMNS, _event_row
    extra, cells = BUILTIN_COLUMNS.get(resource.kind, ([AGE_COLUMN], _simple_row))
    return [NAME_COLUMN, *extra], lambda obj: [obj["metadata"]["name"], *cells(obj)]


def table(
    resource: ResourceType, version: str, objects: list[Object], resource_version: str, include_object: str = "Metadata"
) -> Object:
    """A meta.k8s.io/v1 Table of the objects, each row carrying the object as includeObject asks."""
    columns, cells = _columns_and_cells(resource, version)
    rows = [{"cells": cells(obj), "object": _row_object(obj, include_object)} for obj in objects]
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": columns,
        "rows": rows,
    }


def _row_object(obj: Object, include_object: str) -> Object | None:
    if include_object == "None":
        return None
    if include_object == "Object":
        return obj
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]}
