"""kind-config.yaml: a valid kind v1alpha4 cluster (kind's own types, unknown fields refused), its node image pinned,
its patches well-formed, and its node pools the ones the chart schedules onto (read from the rendered chart)."""

from __future__ import annotations

import re
import tomllib
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from tests.charts.conftest import worker_jobs
from tests.charts.helm import KUBE_VERSION, find
from tests.deploy.cluster import (
    KIND_CONFIG,
    KindNode,
    kubeadm_documents,
    load_kind_config,
    nodes,
    placements,
    pod_specs,
    render_kind,
)
from tests.deploy.kind_schema import Cluster

NODE_IMAGE = re.compile(r"^kindest/node:v(?P<minor>1\.\d+)\.\d+@sha256:[0-9a-f]{64}$")
KUBEADM_KINDS = {"InitConfiguration", "JoinConfiguration", "ClusterConfiguration", "KubeletConfiguration",
                 "KubeProxyConfiguration"}  # fmt: skip
NEWEST_VALIDATED = "1.37"  # kubernetes-validate 1.37: the newest release the chart's manifests are checked against


def raw_config() -> dict[str, Any]:
    return yaml.safe_load(KIND_CONFIG.read_text())


def by_name(cluster_nodes: list[KindNode]) -> dict[str, KindNode]:
    return {node.name: node for node in cluster_nodes}


def test_the_file_is_a_kind_v1alpha4_cluster_named_dhg_with_a_control_plane_and_two_workers():
    cluster = load_kind_config()
    assert cluster.name == "dhg"  # charts/cluster.sh and the Tiltfile's kube context (kind-dhg) use this name
    assert [node.role for node in cluster.nodes] == ["control-plane", "worker", "worker"]


@pytest.mark.parametrize(
    "path, key",
    [
        ((), "containerdConfigPatch"),  # a misspelt top-level field
        (("nodes", 1), "label"),  # a node's field, misspelt
        (("networking",), "podCIDR"),  # not a kind field (podSubnet is)
        (("nodes", 2), "taints"),  # taints are not a node field in kind: they go through kubeadm
    ],
)
def test_unknown_fields_are_refused_as_kinds_strict_decoding_refuses_them(path, key):
    document = raw_config()
    target = document
    for part in path:
        target = target.setdefault(part, {}) if isinstance(part, str) else target[part]
    target[key] = {"x": "y"}
    with pytest.raises(ValidationError, match=key):
        Cluster.model_validate(document)


def test_a_wrong_role_or_api_version_is_refused():
    for change in ({"apiVersion": "kind.x-k8s.io/v1alpha3"}, {"nodes": [{"role": "master", "image": "x"}]}):
        with pytest.raises(ValidationError):
            Cluster.model_validate(raw_config() | change)


def test_every_node_runs_one_node_image_pinned_by_tag_and_digest_within_the_validated_releases():
    images = {node.image for node in load_kind_config().nodes}
    assert len(images) == 1, f"one node image for every node, not {images}"
    (image,) = images
    match = NODE_IMAGE.match(image)
    assert match, f"{image}: pin kindest/node by tag and @sha256 digest (kind's release notes list them)"
    minor = tuple(int(part) for part in match["minor"].split("."))
    oldest = tuple(int(part) for part in KUBE_VERSION.split(".")[:2])
    newest = tuple(int(part) for part in NEWEST_VALIDATED.split("."))
    assert oldest <= minor <= newest, "the cluster's Kubernetes is one the chart's manifests are validated against"


def test_kubeadm_patches_are_kubeadm_documents_and_taints_are_well_formed():
    cluster = load_kind_config()
    patches = cluster.kubeadm_config_patches + [p for node in cluster.nodes for p in node.kubeadm_config_patches]
    assert patches, "the GPU pool's taint is registered through a kubeadm patch"
    for document in kubeadm_documents(patches):
        assert document["kind"] in KUBEADM_KINDS
        # Without apiVersion kind patches whichever kubeadm API its node image uses (v1beta4 for 1.36).
        assert document.get("apiVersion", "kubeadm.k8s.io/v1beta4").startswith("kubeadm.k8s.io/")
        for taint in (document.get("nodeRegistration") or {}).get("taints") or []:
            assert set(taint) <= {"key", "value", "effect"}
            assert taint["effect"] in ("NoSchedule", "PreferNoSchedule", "NoExecute")


def test_containerd_patches_are_toml_reading_registry_hosts_from_certs_d():
    patches = load_kind_config().containerd_config_patches
    assert patches
    documents = [tomllib.loads(patch) for patch in patches]
    registry = [d["plugins"]["io.containerd.grpc.v1.cri"]["registry"] for d in documents]
    assert {"config_path": "/etc/containerd/certs.d"} in registry


@pytest.fixture(scope="module")
def kind_nodes() -> list[KindNode]:
    return nodes(load_kind_config())


@pytest.fixture
def jobs(monkeypatch) -> dict[str, dict[str, Any]]:
    """The worker Jobs the controller, configured as the chart on kind configures it, creates (gpu, cpu)."""
    gpu, cpu = worker_jobs(render_kind(), monkeypatch)
    return {"gpu": gpu["spec"]["template"]["spec"], "cpu": cpu["spec"]["template"]["spec"]}


def gpu_pool(kind_nodes: list[KindNode]) -> set[str]:
    return {n.name for n in kind_nodes if any(t["key"] == "nvidia.com/gpu" for t in n.taints)}


def test_cpu_workers_land_on_the_cpu_pool_only(jobs, kind_nodes):
    assert jobs["cpu"].get("nodeSelector"), "on kind the CPU pool has a selector (charts/kind-values.yaml)"
    assert placements(jobs["cpu"], kind_nodes) == {"dhg-worker"}


def test_gpu_workers_land_on_the_tainted_gpu_pool_only(jobs, kind_nodes):
    assert gpu_pool(kind_nodes) == {"dhg-worker2"}, "the GPU node carries the nvidia.com/gpu taint"
    assert placements(jobs["gpu"], kind_nodes) == {"dhg-worker2"}


def test_the_asr_service_on_gpus_lands_on_the_gpu_pool_only(kind_nodes):
    (deployment,) = find(render_kind("asr.gpu.enabled=true"), "Deployment", "dhg-asr")
    assert placements(deployment["spec"]["template"]["spec"], kind_nodes) == {"dhg-worker2"}


def test_every_service_lands_on_the_cpu_pool_and_none_on_the_gpu_pool(kind_nodes):
    specs = pod_specs(render_kind())
    assert {"Deployment/dhg-registry", "Deployment/dhg-asr", "Deployment/dhg-controller"} <= set(specs)
    for name, spec in specs.items():
        assert placements(spec, kind_nodes) == {"dhg-worker"}, name
