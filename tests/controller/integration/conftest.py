from tests.kube.fixtures import cluster, kube_api, kube_client, kubectl  # noqa: F401 (fixtures)
