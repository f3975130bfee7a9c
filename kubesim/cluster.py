"""A simulated cluster behind the test API: nodes, a scheduler, a Job controller and a kubelet.

with KubeApiServer() as api:
    cluster = SimulatedCluster(api).start()
    cluster.add_node("gpu-1", gpus=1, labels={"nvidia.com/gpu.present": "true"}, taints=[GPU_TAINT])
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kubesim.jobs import JobController
from kubesim.kubelet import Kubelet
from kubesim.scheduler import Scheduler
from kubesim.server import KubeApiServer

Object = dict[str, Any]
GPU_RESOURCE = "nvidia.com/gpu"
GPU_TAINT = {"key": GPU_RESOURCE, "value": "present", "effect": "NoSchedule"}


class SimulatedCluster:
    def __init__(self, api: KubeApiServer, *, cwd: Path | None = None, extra_env: dict[str, str] | None = None) -> None:
        self.api = api
        self.kubelet = Kubelet(
            api.store, api.workdir / "kubelet", register_log=api.register_log, cwd=cwd, extra_env=extra_env
        )
        self.controllers = [Scheduler(api.store), JobController(api.store), self.kubelet]

    def start(self) -> SimulatedCluster:
        for controller in self.controllers:
            self.api.run_controller(controller)
        return self

    def claim_path(self, namespace: str, claim: str) -> Path:
        """The folder that stands for a PersistentVolumeClaim in pods that mount it (created)."""
        folder = self.kubelet.workdir / "claims" / namespace / claim
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def add_node(
        self,
        name: str,
        *,
        cpu: str = "4",
        memory: str = "16Gi",
        gpus: int = 0,
        labels: dict[str, str] | None = None,
        taints: list[Object] | None = None,
        unschedulable: bool = False,
    ) -> Object:
        """A Ready node with the given allocatable resources (GPUs as `nvidia.com/gpu`), labels and taints."""
        capacity = {"cpu": cpu, "memory": memory, "pods": "110"}
        if gpus:
            capacity[GPU_RESOURCE] = str(gpus)
        labels = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", **(labels or {})}
        node = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": name, "labels": labels},
            "spec": {"taints": taints or [], **({"unschedulable": True} if unschedulable else {})},
            "status": {
                "capacity": capacity,
                "allocatable": dict(capacity),
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "True",
                        "reason": "KubeletReady",
                        "message": "kubelet is posting ready status",
                    }
                ],
                "nodeInfo": {"kubeletVersion": "v1.33.0", "operatingSystem": "linux", "architecture": "amd64"},
            },
        }
        nodes = self.api.store.registry.get("", "nodes")
        assert nodes is not None
        return self.api.store.create(nodes, None, node)
