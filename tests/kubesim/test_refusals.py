"""What the stand-in does not implement it refuses, with the real server's `kind: Status` answer."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from kubesim import KubeApiServer
from tests.kubesim.manifests import crd, widget

POD = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


@pytest.fixture
def api(kube_api: KubeApiServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=kube_api.url) as client:
        client.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", json=crd()).raise_for_status()
        client.post("/apis/test.dhg.ai/v1alpha1/namespaces/default/widgets", json=widget("w")).raise_for_status()
        client.post("/api/v1/namespaces/default/pods", json=POD).raise_for_status()
        yield client


@pytest.mark.parametrize(
    ("method", "path", "headers", "body", "code", "reason"),
    [
        ("GET", "/apis/nothing.example/v1/things", {}, None, 404, "NotFound"),
        ("GET", "/api/v1/namespaces/default/pods/p/exec", {}, None, 404, "NotFound"),
        ("GET", "/openapi/v2", {}, None, 404, "NotFound"),
        ("POST", "/api/v1/namespaces/default/pods/p", {}, {}, 405, "MethodNotAllowed"),
        ("DELETE", "/api/v1/namespaces", {}, None, 405, "MethodNotAllowed"),
        (
            "GET",
            "/api/v1/namespaces/default/pods/p",
            {"Accept": "application/vnd.kubernetes.protobuf"},
            None,
            406,
            "NotAcceptable",
        ),
        (
            "PATCH",
            "/api/v1/namespaces/default/pods/p",
            {"Content-Type": "application/apply-patch+yaml"},
            {},
            415,
            "UnsupportedMediaType",
        ),
        (
            "PATCH",
            "/apis/test.dhg.ai/v1alpha1/namespaces/default/widgets/w",
            {"Content-Type": "application/strategic-merge-patch+json"},
            {},
            415,
            "UnsupportedMediaType",
        ),
        (
            "POST",
            "/api/v1/namespaces/default/configmaps?dryRun=Some",
            {},
            {"metadata": {"name": "c"}},
            400,
            "BadRequest",
        ),
        ("GET", "/api/v1/namespaces/default/pods?watch=true&sendInitialEvents=true", {}, None, 422, "Invalid"),
    ],
)
def test_unimplemented_requests_get_a_status_error(
    api: httpx.Client, method: str, path: str, headers: dict, body: dict | None, code: int, reason: str
) -> None:
    response = api.request(method, path, headers=headers, json=body)
    assert response.status_code == code, response.text
    status = response.json()
    assert (status["kind"], status["status"], status["reason"], status["code"]) == ("Status", "Failure", reason, code)


def test_dry_run_validates_without_storing(api: httpx.Client) -> None:
    created = api.post("/api/v1/namespaces/default/configmaps?dryRun=All", json={"metadata": {"name": "dry"}})
    assert created.status_code == 201 and created.json()["metadata"]["name"] == "dry"
    assert api.get("/api/v1/namespaces/default/configmaps/dry").status_code == 404


def test_delete_collection_with_a_selector(api: httpx.Client) -> None:
    for name, tier in (("a", "x"), ("b", "x"), ("c", "y")):
        api.post("/api/v1/namespaces/default/configmaps", json={"metadata": {"name": name, "labels": {"tier": tier}}})
    deleted = api.delete("/api/v1/namespaces/default/configmaps", params={"labelSelector": "tier=x"}).json()
    assert deleted["kind"] == "ConfigMapList" and len(deleted["items"]) == 2
    left = api.get("/api/v1/namespaces/default/configmaps").json()["items"]
    assert [c["metadata"]["name"] for c in left] == ["c"]
