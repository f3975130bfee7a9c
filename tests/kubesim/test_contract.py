"""The stand-in's answers against real kube-apiserver responses (tests/fixtures/k8s): same shapes, and the
same bytes where the real answer is fully determined by the request."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from kubesim import KubeApiServer
from tests.kubesim.manifests import crd
from tests.kubesim.realdata import fixture, ndjson, raw_http_body


def keys(obj: dict[str, Any]) -> set[str]:
    return set(obj)


def entry(listing: dict[str, Any], name: str) -> dict[str, Any]:
    return next(r for r in listing["resources"] if r["name"] == name)


def get(api: KubeApiServer, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.get(api.url + path, **kwargs)


def test_api_versions_document(kube_api: KubeApiServer) -> None:
    real, ours = fixture("discovery-GET-api.json"), get(kube_api, "/api").json()
    assert keys(ours) == keys(real) and ours["kind"] == real["kind"] and ours["versions"] == ["v1"]
    assert keys(ours["serverAddressByClientCIDRs"][0]) == keys(real["serverAddressByClientCIDRs"][0])


def test_api_group_list_document(kube_api: KubeApiServer) -> None:
    real, ours = fixture("discovery-GET-apis.json"), get(kube_api, "/apis").json()
    assert keys(ours) == keys(real) and (ours["kind"], ours["apiVersion"]) == ("APIGroupList", "v1")
    real_batch = next(g for g in real["groups"] if g["name"] == "batch")
    our_batch = next(g for g in ours["groups"] if g["name"] == "batch")
    assert our_batch == {**real_batch, "versions": [v for v in real_batch["versions"] if v["version"] == "v1"]}


@pytest.mark.parametrize(
    ("path", "real_name", "resources"),
    [
        ("/api/v1", "discovery-GET-api-v1.json", ["pods", "pods/status", "namespaces", "events", "nodes/status"]),
        ("/apis/batch/v1", "discovery-GET-apis-batch-v1.json", ["jobs", "jobs/status"]),
    ],
)
def test_api_resource_lists_match_the_real_entries(
    kube_api: KubeApiServer, path: str, real_name: str, resources: list[str]
) -> None:
    real, ours = fixture(real_name), get(kube_api, path).json()
    assert (ours["kind"], ours["groupVersion"]) == (real["kind"], real["groupVersion"])
    for name in resources:
        real_entry, our_entry = entry(real, name), entry(ours, name)
        assert keys(our_entry) == keys(real_entry), name
        assert {k: v for k, v in our_entry.items() if k != "storageVersionHash"} == {
            k: v for k, v in real_entry.items() if k != "storageVersionHash"
        }, name


def test_custom_resource_group_discovery_matches_a_crd_group(kube_api: KubeApiServer) -> None:
    httpx.post(kube_api.url + "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", json=crd()).raise_for_status()
    real = fixture("discovery-GET-apis-gateway.networking.k8s.io-v1-CRD-group-STRIPPED.json")
    ours = get(kube_api, "/apis/test.dhg.ai/v1alpha1").json()
    assert keys(ours) == keys(real)
    assert keys(entry(real, "gatewayclasses")) <= keys(entry(ours, "widgets"))
    assert set(entry(ours, "widgets")["verbs"]) == set(entry(real, "gatewayclasses")["verbs"])
    status_entry = entry(ours, "widgets/status")
    assert status_entry == {**entry(real, "grpcroutes/status"), "name": "widgets/status", "kind": "Widget"}


def test_not_found_status_is_byte_for_byte_the_real_one(kube_api: KubeApiServer) -> None:
    response = get(kube_api, "/api/v1/namespaces/default/pods/foobar-1")
    assert response.status_code == 404 and response.headers["content-type"] == "application/json"
    assert response.json() == fixture("status-404-NotFound-pod-kube-rs.json")


def test_already_exists_status(kube_api: KubeApiServer) -> None:
    response = httpx.post(kube_api.url + "/api/v1/namespaces", json={"metadata": {"name": "default"}})
    real = fixture("status-409-AlreadyExists-POST-namespace-TRIMMED-no-kind.json")
    assert response.status_code == 409
    assert {k: v for k, v in response.json().items() if k in real} == real


def test_invalid_status_for_a_bad_lease_name_is_the_real_one(kube_api: KubeApiServer) -> None:
    response = httpx.post(
        kube_api.url + "/apis/coordination.k8s.io/v1/namespaces/default/leases",
        json={"metadata": {"name": "test_"}, "spec": {}},
    )
    assert response.status_code == 422
    assert response.json() == fixture("status-422-Invalid-POST-lease-bad-name.json")


def test_invalid_status_for_a_put_without_resource_version_is_the_real_one(kube_api: KubeApiServer) -> None:
    leases = kube_api.url + "/apis/coordination.k8s.io/v1/namespaces/default/leases"
    httpx.post(leases, json={"metadata": {"name": "test"}, "spec": {}}).raise_for_status()
    response = httpx.put(leases + "/test", json={"metadata": {"name": "test"}, "spec": {}})
    assert response.status_code == 422
    assert response.json() == fixture("status-422-Invalid-PUT-lease-missing-resourceVersion.json")


def test_conflict_status_shape(kube_api: KubeApiServer) -> None:
    leases = kube_api.url + "/apis/coordination.k8s.io/v1/namespaces/default/leases"
    httpx.post(leases, json={"metadata": {"name": "q"}, "spec": {}}).raise_for_status()
    response = httpx.put(leases + "/q", json={"metadata": {"name": "q", "resourceVersion": "1"}, "spec": {}})
    real = fixture("status-409-Conflict-object-has-been-modified-resourcequota.json")
    ours = response.json()
    assert response.status_code == 409 and keys(ours) == keys(real) and keys(ours["details"]) >= keys(real["details"])
    assert ours["message"].replace('leases.coordination.k8s.io "q"', 'resourcequotas "quota"') == real["message"]


def test_created_object_and_list_shapes(kube_api: KubeApiServer) -> None:
    accounts = kube_api.url + "/api/v1/namespaces/default/serviceaccounts"
    created = httpx.post(accounts, json={"metadata": {"name": "foobar"}})
    assert created.status_code == 201
    real_object = raw_http_body("get-serviceaccount-2024.http")
    assert keys(created.json()) == keys(real_object)
    assert keys(created.json()["metadata"]) == keys(real_object["metadata"])
    real_list, our_list = raw_http_body("list-serviceaccounts-2024.http"), httpx.get(accounts).json()
    assert keys(our_list) == keys(real_list) and our_list["kind"] == "ServiceAccountList"
    assert keys(our_list["metadata"]) == keys(real_list["metadata"])
    assert keys(our_list["items"][0]) == keys(real_list["items"][0])  # no kind/apiVersion on items, as upstream


def test_watch_lines_and_initial_events_bookmark_shape(kube_api: KubeApiServer) -> None:
    real = ndjson("watch-GET-serviceaccounts-sendInitialEvents-ADDED-BOOKMARK-initial-events-end.ndjson")
    httpx.post(kube_api.url + "/api/v1/namespaces/default/serviceaccounts", json={"metadata": {"name": "foobar"}})
    params = {
        "watch": "true",
        "sendInitialEvents": "true",
        "resourceVersionMatch": "NotOlderThan",
        "allowWatchBookmarks": "true",
    }
    with httpx.stream("GET", kube_api.url + "/api/v1/namespaces/default/serviceaccounts", params=params) as response:
        lines = response.iter_lines()
        ours = [json.loads(next(lines)) for _ in range(2)]
    assert [e["type"] for e in ours] == [e["type"] for e in real] == ["ADDED", "BOOKMARK"]
    for mine, theirs in zip(ours, real, strict=True):
        assert keys(mine) == keys(theirs) and keys(mine["object"]) == keys(theirs["object"])
        assert keys(mine["object"]["metadata"]) == keys(theirs["object"]["metadata"])
    assert ours[1]["object"]["metadata"]["annotations"] == real[1]["object"]["metadata"]["annotations"]


def test_expired_status_shape(kube_api: KubeApiServer) -> None:
    real = fixture("status-410-Expired-LIST-continue-token.json")
    response = httpx.get(kube_api.url + "/api/v1/namespaces/default/configmaps", params={"limit": "1", "continue": "x"})
    assert response.status_code == 410
    ours = response.json()
    assert {k: ours[k] for k in ("kind", "status", "reason", "code", "message")} == {
        k: real[k] for k in ("kind", "status", "reason", "code", "message")
    }


def test_crd_status_as_the_apiextensions_server_writes_it(kube_api: KubeApiServer) -> None:
    created = httpx.post(kube_api.url + "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", json=crd()).json()
    real = fixture("crd-GET-volumesnapshots-with-status-NO-TYPEMETA.json")
    assert keys(created["status"]) == keys(real["status"])
    assert keys(created["status"]["acceptedNames"]) >= keys(real["status"]["acceptedNames"]) - {"categories"}
    established = next(c for c in created["status"]["conditions"] if c["type"] == "Established")
    assert keys(established) == keys(next(c for c in real["status"]["conditions"] if c["type"] == "Established"))
