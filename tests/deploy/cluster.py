"""What the deploy tests share: the chart rendered with the kind values, kind-config.yaml's nodes as the scheduler
sees them (labels and taints), and whether a pod spec fits a node by its selector and tolerations."""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.charts.helm import CHART, NAMESPACE, RELEASE, documents_of, helm
from tests.deploy.kind_schema import Cluster

ROOT = Path(__file__).resolve().parents[2]
KIND_CONFIG = ROOT / "kind-config.yaml"
KIND_VALUES = ROOT / "charts" / "kind-values.yaml"
SCHEDULING_EFFECTS = ("NoSchedule", "NoExecute")
# kubeadm taints a control plane so; kind removes the taint only when the control plane is the cluster's one node.
CONTROL_PLANE_TAINT = {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}


@functools.cache
def _kind_rendered(sets: tuple[str, ...]) -> str:
    flags = [flag for item in sets for flag in ("--set", item)]
    args = [RELEASE, str(CHART), "--namespace", NAMESPACE, "--include-crds", "--values", str(KIND_VALUES), *flags]
    return helm("template", *args)


def render_kind(*sets: str) -> list[dict[str, Any]]:
    """The chart as charts/cluster.sh and the Tiltfile install it on kind (charts/kind-values.yaml), plus `sets`."""
    return copy.deepcopy(documents_of(_kind_rendered(sets)))


def pins() -> dict[str, str]:
    """charts/observability/versions.env: the monitoring charts' pins, release names and namespaces."""
    lines = (ROOT / "charts" / "observability" / "versions.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line.strip() and not line.startswith("#"))


def load_kind_config(path: Path = KIND_CONFIG) -> Cluster:
    return Cluster.model_validate(yaml.safe_load(path.read_text()))


@dataclass(frozen=True)
class KindNode:
    name: str
    role: str
    labels: dict[str, str]
    taints: list[dict[str, str]] = field(default_factory=list)


def kubeadm_documents(patches: list[str]) -> list[dict[str, Any]]:
    return [yaml.safe_load(patch) for patch in patches]


def nodes(cluster: Cluster) -> list[KindNode]:
    """The cluster's nodes as kind names them (`<cluster>-control-plane`, `<cluster>-worker`, `-worker2`...), with
    the labels of `nodes[].labels` and the taints their kubeadm Init/JoinConfiguration patches register."""
    found, counts = [], {"control-plane": 0, "worker": 0}
    has_workers = any(node.role == "worker" for node in cluster.nodes)
    for node in cluster.nodes:
        counts[node.role] += 1
        suffix = "" if counts[node.role] == 1 else str(counts[node.role])
        taints = [dict(CONTROL_PLANE_TAINT)] if node.role == "control-plane" and has_workers else []
        first_control_plane = node.role == "control-plane" and counts[node.role] == 1
        registration = "InitConfiguration" if first_control_plane else "JoinConfiguration"
        for document in kubeadm_documents(cluster.kubeadm_config_patches + node.kubeadm_config_patches):
            if document.get("kind") == registration:
                taints += (document.get("nodeRegistration") or {}).get("taints") or []
        found.append(KindNode(f"{cluster.name}-{node.role}{suffix}", node.role, dict(node.labels), taints))
    return found


def tolerates(tolerations: list[dict[str, Any]], taint: dict[str, str]) -> bool:
    """Kubernetes' matching of a toleration to a taint (key, operator Exists/Equal, value, effect)."""
    for toleration in tolerations:
        operator = toleration.get("operator", "Equal")
        if toleration.get("effect") and toleration["effect"] != taint.get("effect"):
            continue
        if not toleration.get("key"):
            if operator == "Exists":
                return True
            continue
        if toleration["key"] != taint["key"]:
            continue
        if operator == "Exists" or toleration.get("value", "") == taint.get("value", ""):
            return True
    return False


def fits(pod_spec: dict[str, Any], node: KindNode) -> bool:
    """The node matches the pod's nodeSelector and the pod tolerates each of its scheduling taints."""
    selector = pod_spec.get("nodeSelector") or {}
    if any(node.labels.get(key) != value for key, value in selector.items()):
        return False
    tolerations = pod_spec.get("tolerations") or []
    return all(tolerates(tolerations, t) for t in node.taints if t.get("effect") in SCHEDULING_EFFECTS)


def placements(pod_spec: dict[str, Any], cluster_nodes: list[KindNode]) -> set[str]:
    return {node.name for node in cluster_nodes if fits(pod_spec, node)}


def pod_specs(documents: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """`Kind/name` → pod spec of every workload in the documents."""
    workloads = ("Deployment", "StatefulSet", "DaemonSet", "Job")
    return {
        f"{d['kind']}/{d['metadata']['name']}": d["spec"]["template"]["spec"]
        for d in documents
        if d["kind"] in workloads
    }
