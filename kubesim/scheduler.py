"""A scheduler: binds each pending pod to the first node that fits, or marks it Unschedulable with the reasons
kube-scheduler gives (node selector, untolerated taints, insufficient resources, unschedulable nodes)."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from kubesim.controllers import Controller, record_event, resource, tolerate_gone
from kubesim.timestamps import now
from kubesim.views import Event

Object = dict[str, Any]
COMPONENT = "default-scheduler"
_SUFFIXES: dict[str, float] = {
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "m": 0.001,
}


def quantity(value: Any) -> float:
    """A Kubernetes quantity ("500m", "2Gi", 1) as a number."""
    text = str(value)
    match = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", text)
    if not match:
        raise ValueError(f"not a quantity: {value!r}")
    number, suffix = match.groups()
    return float(number) * _SUFFIXES.get(suffix, 1)


def pod_requests(pod: Object) -> dict[str, float]:
    """Requests per resource, falling back to limits, summed over the containers (as the scheduler counts)."""
    total: dict[str, float] = {}
    for container in (pod.get("spec") or {}).get("containers") or []:
        resources = container.get("resources") or {}
        asked = {**(resources.get("limits") or {}), **(resources.get("requests") or {})}
        for name, value in asked.items():
            total[name] = total.get(name, 0) + quantity(value)
    return total


def _add(used: dict[str, float], requests: dict[str, float]) -> None:
    for name, amount in requests.items():
        used[name] = used.get(name, 0) + amount


def tolerates(tolerations: list[Object], taint: Object) -> bool:
    for toleration in tolerations:
        if toleration.get("effect") and toleration["effect"] != taint.get("effect"):
            continue
        if toleration.get("operator") == "Exists" and (not toleration.get("key") or toleration["key"] == taint["key"]):
            return True
        if toleration.get("key") == taint["key"] and str(toleration.get("value", "")) == str(taint.get("value", "")):
            return True
    return False


def misfit(pod: Object, node: Object, used: dict[str, float]) -> list[str]:
    """Why the pod cannot go to the node, in kube-scheduler's words; empty when it fits."""
    spec = pod.get("spec") or {}
    if (node.get("spec") or {}).get("unschedulable"):
        return ["node(s) were unschedulable"]
    labels = node["metadata"].get("labels") or {}
    if any(labels.get(k) != v for k, v in (spec.get("nodeSelector") or {}).items()):
        return ["node(s) didn't match Pod's node affinity/selector"]
    for taint in (node.get("spec") or {}).get("taints") or []:
        if taint.get("effect") in ("NoSchedule", "NoExecute") and not tolerates(spec.get("tolerations") or [], taint):
            value = f": {taint['value']}" if taint.get("value") else ""
            return [f"node(s) had untolerated taint {{{taint['key']}{value}}}"]
    allocatable = {k: quantity(v) for k, v in ((node.get("status") or {}).get("allocatable") or {}).items()}
    return [
        f"Insufficient {name}"
        for name, asked in sorted(pod_requests(pod).items())
        if asked > allocatable.get(name, 0) - used.get(name, 0)
    ]


def unschedulable_message(node_count: int, reasons: Counter[str]) -> str:
    parts = ", ".join(f"{count} {reason}" for reason, count in sorted(reasons.items()))
    head = f"0/{node_count} nodes are available"
    if not node_count:
        return f"{head}: no nodes available to schedule pods."
    return f"{head}: {parts}. preemption: {head}: {node_count} Preemption is not helpful for scheduling."


class Scheduler(Controller):
    def interested(self, event: Event) -> bool:
        return event.resource.kind in ("Pod", "Node")

    async def sweep(self) -> None:
        pods_type, nodes_type = resource(self.store, "", "pods"), resource(self.store, "", "nodes")
        nodes, _ = self.store.list(nodes_type, None, copies=False)  # read only; writes go through the store
        pods, _ = self.store.list(pods_type, None, copies=False)
        used: dict[str, dict[str, float]] = {n["metadata"]["name"]: {} for n in nodes}
        for pod in pods:
            node = (pod.get("spec") or {}).get("nodeName")
            if node in used and (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
                _add(used[node], pod_requests(pod))
        for pod in pods:
            spec = pod.get("spec") or {}
            if spec.get("nodeName") or pod["metadata"].get("deletionTimestamp"):
                continue
            if spec.get("schedulerName", COMPONENT) != COMPONENT:
                continue
            self._schedule(pod, nodes, used)

    def _schedule(self, pod: Object, nodes: list[Object], used: dict[str, dict[str, float]]) -> None:
        pods_type = resource(self.store, "", "pods")
        meta = pod["metadata"]
        reasons: Counter[str] = Counter()
        for node in nodes:
            why = misfit(pod, node, used[node["metadata"]["name"]])
            if not why:
                name = node["metadata"]["name"]
                _add(used[name], pod_requests(pod))
                bound = tolerate_gone(
                    lambda n=name: self.store.patch(
                        pods_type,
                        meta["namespace"],
                        meta["name"],
                        lambda p: {**p, "spec": {**p["spec"], "nodeName": n}},
                    )
                )
                if bound:
                    self._set_condition(pod, {"type": "PodScheduled", "status": "True"})
                    record_event(
                        self.store,
                        pod,
                        "Scheduled",
                        f"Successfully assigned {meta['namespace']}/{meta['name']} to {name}",
                        component=COMPONENT,
                    )
                return
            reasons.update(why)
        message = unschedulable_message(len(nodes), reasons)
        current = next(
            (c for c in (pod.get("status") or {}).get("conditions") or [] if c["type"] == "PodScheduled"), {}
        )
        if current.get("message") != message:
            self._set_condition(
                pod, {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message}
            )
            record_event(self.store, pod, "FailedScheduling", message, type_="Warning", component=COMPONENT)

    def _set_condition(self, pod: Object, condition: Object) -> None:
        condition = {
            "type": condition["type"],
            "status": condition["status"],
            "lastProbeTime": None,
            "lastTransitionTime": now(),
            **{k: v for k, v in condition.items() if k not in ("type", "status")},
        }

        def apply(current: Object) -> Object:
            status = current.setdefault("status", {})
            others = [c for c in status.get("conditions") or [] if c["type"] != condition["type"]]
            status["conditions"] = [*others, condition]
            return current

        meta = pod["metadata"]
        pods_type = resource(self.store, "", "pods")
        tolerate_gone(lambda: self.store.patch(pods_type, meta["namespace"], meta["name"], apply, subresource="status"))
