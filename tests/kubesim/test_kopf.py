"""A small Kopf operator, run for real against the stand-in: create → adopt a child → status → Event →
finalizer → delete → garbage collection, the flow the project's controller follows."""

from __future__ import annotations

from typing import Any

import httpx
import kopf
import pytest

from kubesim import KubeApiServer
from kubesim.waiting import events_about, wait_for, wait_until
from tests.kubesim.embedded import operator
from tests.kubesim.manifests import crd, widget

WIDGETS = "/apis/test.dhg.ai/v1alpha1/namespaces/default/widgets"
FINALIZER = "test.dhg.ai/kopf-finalizer"


def make_registry(api: KubeApiServer, deleted: list[str]) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()

    @kopf.on.startup(registry=registry)
    def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.persistence.finalizer = FINALIZER
        settings.watching.server_timeout = 30
        settings.networking.request_timeout = 30

    @kopf.on.login(registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        return kopf.ConnectionInfo(server=api.url, insecure=True)

    @kopf.on.create("test.dhg.ai", "v1alpha1", "widgets", registry=registry)
    def create(spec: Any, name: str, body: Any, patch: kopf.Patch, **_: Any) -> None:
        child = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"{name}-data"},
            "data": {"color": spec["color"]},
        }
        kopf.adopt(child, owner=body)
        httpx.post(f"{api.url}/api/v1/namespaces/default/configmaps", json=child).raise_for_status()
        patch.status["phase"] = "Ready"
        kopf.info(body, reason="ChildCreated", message="made the child")

    @kopf.on.delete("test.dhg.ai", "v1alpha1", "widgets", registry=registry)
    def delete(name: str, **_: Any) -> None:
        deleted.append(name)

    return registry


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_kopf_operator_full_lifecycle(kube_api: KubeApiServer) -> None:
    httpx.post(kube_api.url + "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", json=crd()).raise_for_status()
    deleted: list[str] = []
    with operator(make_registry(kube_api, deleted)):
        owner = httpx.post(kube_api.url + WIDGETS, json=widget("k1")).json()
        ready = wait_for(
            kube_api,
            "test.dhg.ai",
            "widgets",
            "default",
            "k1",
            lambda w: ((w or {}).get("status") or {}).get("phase") == "Ready",
        )
        assert FINALIZER in ready["metadata"]["finalizers"]  # type: ignore[index]
        child = wait_for(kube_api, "", "configmaps", "default", "k1-data", lambda c: c is not None)
        assert child["metadata"]["ownerReferences"][0]["uid"] == owner["metadata"]["uid"]  # type: ignore[index]
        wait_until(
            kube_api,
            lambda: [e for e in events_about(kube_api, "k1") if "made the child" in e["message"]],
            what="Kopf's Event",
        )
        httpx.delete(kube_api.url + WIDGETS + "/k1").raise_for_status()
        wait_for(kube_api, "test.dhg.ai", "widgets", "default", "k1", lambda w: w is None)
        wait_for(kube_api, "", "configmaps", "default", "k1-data", lambda c: c is None)
    assert deleted == ["k1"]
