"""A test Kubernetes API: an HTTP stand-in for kube-apiserver (plus a simulated scheduler, kubelet and Job
controller) that Kopf, the `kubernetes` client and kubectl talk to. See tests/kube/README.md."""

from tests.kube.cluster import GPU_RESOURCE, GPU_TAINT, SimulatedCluster
from tests.kube.server import KubeApiServer

__all__ = ["GPU_RESOURCE", "GPU_TAINT", "KubeApiServer", "SimulatedCluster"]
