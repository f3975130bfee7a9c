"""The test Kubernetes API's fixtures, and a custom resource of our own to exercise CRD handling."""

from kubesim.fixtures import cluster, kube_api, kube_client, kubectl  # noqa: F401
