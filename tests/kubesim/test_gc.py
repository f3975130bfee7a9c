"""Garbage collection by ownerReferences (Background, Foreground, Orphan), Jobs' orphaning default, namespaces."""

from __future__ import annotations

import httpx
import pytest

from kubesim import KubeApiServer
from kubesim.waiting import wait_for

CONFIGMAPS = "/api/v1/namespaces/default/configmaps"


def owner_and_child(api: KubeApiServer, owner: str = "owner") -> tuple[dict, dict]:
    parent = httpx.post(api.url + CONFIGMAPS, json={"metadata": {"name": owner}}).json()
    reference = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "name": owner,
        "uid": parent["metadata"]["uid"],
        "blockOwnerDeletion": True,
    }
    child = httpx.post(
        api.url + CONFIGMAPS, json={"metadata": {"name": f"{owner}-child", "ownerReferences": [reference]}}
    ).json()
    return parent, child


def delete(api: KubeApiServer, path: str, policy: str | None = None) -> httpx.Response:
    body = {"kind": "DeleteOptions", "apiVersion": "v1", **({"propagationPolicy": policy} if policy else {})}
    return httpx.request("DELETE", api.url + path, json=body)


def gone(obj: dict | None) -> bool:
    return obj is None


def test_background_deletion_removes_dependents(kube_api: KubeApiServer) -> None:
    owner_and_child(kube_api)
    assert delete(kube_api, f"{CONFIGMAPS}/owner", "Background").status_code == 200
    wait_for(kube_api, "", "configmaps", "default", "owner-child", gone)


def test_foreground_deletion_keeps_the_owner_until_dependents_are_gone(kube_api: KubeApiServer) -> None:
    owner_and_child(kube_api)
    deleting = delete(kube_api, f"{CONFIGMAPS}/owner", "Foreground").json()
    assert deleting["metadata"]["finalizers"] == ["foregroundDeletion"] and deleting["metadata"]["deletionTimestamp"]
    wait_for(kube_api, "", "configmaps", "default", "owner-child", gone)
    wait_for(kube_api, "", "configmaps", "default", "owner", gone)


def test_orphan_deletion_leaves_dependents_without_the_reference(kube_api: KubeApiServer) -> None:
    owner_and_child(kube_api)
    delete(kube_api, f"{CONFIGMAPS}/owner", "Orphan")
    wait_for(kube_api, "", "configmaps", "default", "owner", gone)
    child = wait_for(
        kube_api,
        "",
        "configmaps",
        "default",
        "owner-child",
        lambda c: c is not None and not c["metadata"].get("ownerReferences"),
    )
    assert child is not None


@pytest.mark.parametrize(("policy", "pod_survives"), [(None, True), ("Background", False)])
def test_deleting_a_job_orphans_its_pods_unless_told_otherwise(
    kube_api: KubeApiServer, policy: str | None, pod_survives: bool
) -> None:
    manifest = {
        "metadata": {"name": "j"},
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "c", "image": "busybox", "command": ["true"]}],
                }
            }
        },
    }
    created = httpx.post(kube_api.url + "/apis/batch/v1/namespaces/default/jobs", json=manifest).json()
    reference = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "name": "j",
        "uid": created["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }
    pod = {
        "metadata": {"name": "j-pod", "ownerReferences": [reference]},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
    }
    httpx.post(kube_api.url + "/api/v1/namespaces/default/pods", json=pod).raise_for_status()
    if policy:
        delete(kube_api, "/apis/batch/v1/namespaces/default/jobs/j", policy)
    else:
        httpx.delete(kube_api.url + "/apis/batch/v1/namespaces/default/jobs/j")
    wait_for(kube_api, "batch", "jobs", "default", "j", gone)
    if pod_survives:
        left = wait_for(
            kube_api,
            "",
            "pods",
            "default",
            "j-pod",
            lambda p: p is not None and not p["metadata"].get("ownerReferences"),
        )
        assert left is not None
    else:
        wait_for(kube_api, "", "pods", "default", "j-pod", gone)


def test_deleting_a_namespace_deletes_its_content_first(kube_api: KubeApiServer) -> None:
    httpx.post(kube_api.url + "/api/v1/namespaces", json={"metadata": {"name": "doomed"}}).raise_for_status()
    httpx.post(
        kube_api.url + "/api/v1/namespaces/doomed/configmaps",
        json={"metadata": {"name": "held", "finalizers": ["test.dhg.ai/hold"]}},
    ).raise_for_status()
    terminating = httpx.delete(kube_api.url + "/api/v1/namespaces/doomed").json()
    assert terminating["status"]["phase"] == "Terminating"
    refused = httpx.post(kube_api.url + "/api/v1/namespaces/doomed/configmaps", json={"metadata": {"name": "new"}})
    assert refused.status_code == 403 and refused.json()["reason"] == "Forbidden"
    wait_for(kube_api, "", "configmaps", "doomed", "held", lambda c: bool(c and c["metadata"].get("deletionTimestamp")))
    httpx.patch(
        kube_api.url + "/api/v1/namespaces/doomed/configmaps/held",
        json={"metadata": {"finalizers": None}},
        headers={"Content-Type": "application/merge-patch+json"},
    ).raise_for_status()
    wait_for(kube_api, "", "namespaces", None, "doomed", gone)
