"""A test Kubernetes API: an HTTP stand-in for kube-apiserver (plus a simulated scheduler, kubelet and Job
controller) that Kopf, the `kubernetes` client and kubectl talk to. See kubesim/README.md."""

from kubesim.cluster import GPU_RESOURCE, GPU_TAINT, SimulatedCluster
from kubesim.server import KubeApiServer

__all__ = ["GPU_RESOURCE", "GPU_TAINT", "KubeApiServer", "SimulatedCluster"]
