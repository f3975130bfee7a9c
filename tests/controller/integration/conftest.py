"""Fixtures of the operator's end-to-end tests: the test Kubernetes API with its simulated cluster, the CRD, the
worker's Registry token Secret and the operator's settings. The worker the kubelet runs is `worker_command`:
tests/controller/fake_worker.py by default; a module overrides the fixture to run the real `python -m asr.worker`."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator

import pytest
from kopf.testing import KopfRunner

from controller.settings import get_settings
from kubesim.fixtures import cluster, kube_api, kube_client, kubectl  # noqa: F401 (fixtures)
from tests.conftest import make_token
from tests.controller.integration.support import FAKE_WORKER, KOPF_RUN, ROOT


@pytest.fixture
def registry_env(registry, admin, monkeypatch):
    """Job records go to a real Registry (the session's, on a real PostgreSQL)."""
    monkeypatch.setenv("DHG_CONTROLLER_REGISTRY_URL", registry.url)
    monkeypatch.setenv("DHG_CONTROLLER_REGISTRY_TOKEN", make_token(admin, "write", name="controller"))
    return admin


@pytest.fixture
def worker_command() -> list[str]:
    return [sys.executable, str(FAKE_WORKER)]


@pytest.fixture
def worker_token() -> str:
    """The token in the worker's Secret (the fake worker never uses it)."""
    return "test-token"


@pytest.fixture
def operator_env(kube_api, cluster, kubectl, worker_command, worker_token, monkeypatch) -> Iterator[None]:  # noqa: F811
    """The CRD, the worker's Registry token Secret, and the operator's settings (not started)."""
    kubectl.run("apply", "-f", str(ROOT / "crds" / "transcriptionjob.yaml"))
    kubectl.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "dhg-worker-registry-token"},
            "stringData": {"token": worker_token},
        }
    )
    monkeypatch.setenv("KUBECONFIG", str(kube_api.kubeconfig))
    monkeypatch.setenv("DHG_CONTROLLER_WORKER__COMMAND", json.dumps(worker_command))
    monkeypatch.setenv("DHG_CONTROLLER_STANDALONE", "true")
    # The kubelet maps mount paths onto pod folders wherever they appear in a container's command; the worker's
    # scratch goes elsewhere than /tmp so that a checkout under /tmp (CI's) keeps its interpreter's path.
    monkeypatch.setenv("DHG_CONTROLLER_WORKER__SCRATCH_MOUNT", "/scratch")
    monkeypatch.setenv("DHG_CONTROLLER_METRICS_PORT", "0")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def operator(operator_env):
    with KopfRunner(KOPF_RUN, timeout=60) as runner:
        yield runner
    assert runner.exit_code == 0, runner.output
