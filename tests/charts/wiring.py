"""How rendered objects refer to each other: Services to pods, ServiceMonitors to Services, autoscalers to
workloads. Pure functions returning what does not connect."""

from __future__ import annotations

from typing import Any

from tests.charts.checks import containers, label_of, namespace_of, pod_labels, pod_templates, selects


def _pods_in(documents: list[dict[str, Any]], namespace: str) -> list[dict[str, Any]]:
    return [pod for workload, pod in pod_templates(documents) if namespace_of(workload) == namespace]


def _container_ports(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return [port for _, container in containers(pod["spec"]) for port in container.get("ports") or []]


def service_violations(documents: list[dict[str, Any]]) -> list[str]:
    """Services whose selector selects no rendered pod, or whose named target port no selected pod declares."""
    found = []
    for service in (d for d in documents if d["kind"] == "Service"):
        selector = service["spec"].get("selector")
        if not selector:
            continue  # a Service without a selector has its endpoints managed by hand
        candidates = _pods_in(documents, namespace_of(service))
        pods = [p for p in candidates if selects({"matchLabels": selector}, pod_labels(p))]
        if not pods:
            found.append(f"{label_of(service)}: its selector {selector} selects no rendered pod")
            continue
        for port in service["spec"].get("ports") or []:
            target = port.get("targetPort", port["port"])
            declared = [p for pod in pods for p in _container_ports(pod)]
            if not any(p.get("name") == target or p.get("containerPort") == target for p in declared):
                found.append(f"{label_of(service)}: port {port.get('name')} targets {target}, which no pod declares")
    return found


def _monitored_services(monitor: dict[str, Any], documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    spec = monitor["spec"]
    namespaces = spec.get("namespaceSelector") or {}
    services = [d for d in documents if d["kind"] == "Service"]
    if not namespaces.get("any"):
        allowed = set(namespaces.get("matchNames") or [namespace_of(monitor)])
        services = [s for s in services if namespace_of(s) in allowed]
    return [s for s in services if selects(spec.get("selector"), (s.get("metadata") or {}).get("labels") or {})]


def monitor_violations(documents: list[dict[str, Any]]) -> list[str]:
    """ServiceMonitors that select no rendered Service, or whose endpoints name a port no selected Service has."""
    found = []
    for monitor in (d for d in documents if d["kind"] == "ServiceMonitor"):
        services = _monitored_services(monitor, documents)
        if not services:
            found.append(f"{label_of(monitor)}: its selector selects no rendered Service")
            continue
        ports = [port for service in services for port in service["spec"].get("ports") or []]
        for index, endpoint in enumerate(monitor["spec"].get("endpoints") or []):
            if "port" in endpoint and not any(p.get("name") == endpoint["port"] for p in ports):
                found.append(f"{label_of(monitor)} endpoints[{index}]: no selected Service has port {endpoint['port']}")
            elif "targetPort" in endpoint and not any(
                p.get("targetPort", p["port"]) == endpoint["targetPort"] for p in ports
            ):
                found.append(f"{label_of(monitor)} endpoints[{index}]: no Service targets {endpoint['targetPort']}")
            elif "port" not in endpoint and "targetPort" not in endpoint:
                found.append(f"{label_of(monitor)} endpoints[{index}]: names no port")
    return found


def _target(scaler: dict[str, Any]) -> tuple[str, str, str]:
    reference = scaler["spec"]["scaleTargetRef"]
    return (namespace_of(scaler), reference.get("kind", "Deployment"), reference["name"])


def autoscaler_violations(documents: list[dict[str, Any]]) -> list[str]:
    """An HPA and a ScaledObject for the same workload (KEDA makes its own HPA: two would fight), two of either, or
    a target that is not rendered."""
    scalers = [d for d in documents if d["kind"] in ("HorizontalPodAutoscaler", "ScaledObject")]
    workloads = {(namespace_of(d), d["kind"], d["metadata"]["name"]) for d in documents}
    found = []
    for index, scaler in enumerate(scalers):
        target = _target(scaler)
        if target not in workloads:
            found.append(f"{label_of(scaler)}: scales {target[1]} {target[2]}, which is not rendered")
        found += [
            f"{label_of(scaler)} and {label_of(other)} both scale {target[1]} {target[2]}"
            for other in scalers[index + 1 :]
            if _target(other) == target
        ]
    return found


def _replicas(workload: dict[str, Any], documents: list[dict[str, Any]]) -> int:
    """The most replicas a workload may run: its autoscaler's maximum when one targets it, else spec.replicas."""
    name = workload["metadata"]["name"]
    for scaler in documents:
        target = (scaler.get("spec") or {}).get("scaleTargetRef") or {}
        if scaler["kind"] == "HorizontalPodAutoscaler" and target.get("name") == name:
            return int(scaler["spec"]["maxReplicas"])
        if scaler["kind"] == "ScaledObject" and target.get("name") == name:
            return int(scaler["spec"].get("maxReplicaCount", 100))
    return int(workload["spec"].get("replicas", 1))


def disruption_budget_violations(documents: list[dict[str, Any]]) -> list[str]:
    """Deployments that may run more than one replica without a PodDisruptionBudget selecting their pods."""
    budgets = [d for d in documents if d["kind"] == "PodDisruptionBudget"]
    found = []
    for workload in (d for d in documents if d["kind"] == "Deployment"):
        if _replicas(workload, documents) < 2:
            continue
        labels = workload["spec"]["template"]["metadata"].get("labels") or {}
        if not any(b["spec"].get("selector") and selects(b["spec"]["selector"], labels) for b in budgets):
            found.append(f"Deployment {workload['metadata']['name']}: more than one replica and no PodDisruptionBudget")
    return found
