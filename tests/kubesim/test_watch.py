"""Watches: events after a resourceVersion, resume, BOOKMARKs, 410 Expired, timeouts, selector transitions."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from kubernetes import client, watch
from kubernetes.client.rest import ApiException

from kubesim import KubeApiServer

CONFIGMAPS = "/api/v1/namespaces/default/configmaps"


@contextmanager
def stream(api: KubeApiServer, path: str, **params: str) -> Iterator[Iterator[dict]]:
    with httpx.stream("GET", api.url + path, params={"watch": "true", **params}, timeout=10) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        yield (json.loads(line) for line in response.iter_lines() if line)


def make(api: KubeApiServer, name: str, **labels: str) -> dict:
    response = httpx.post(api.url + CONFIGMAPS, json={"metadata": {"name": name, "labels": labels}})
    assert response.status_code == 201, response.text
    return response.json()


def test_watch_from_list_resource_version_sees_changes_in_order(
    kube_api: KubeApiServer, kube_client: client.ApiClient
) -> None:
    core = client.CoreV1Api(kube_client)
    core.create_namespaced_config_map("default", {"metadata": {"name": "before"}})
    rv = core.list_namespaced_config_map("default").metadata.resource_version
    core.create_namespaced_config_map("default", {"metadata": {"name": "a"}})
    core.patch_namespaced_config_map("a", "default", {"data": {"k": "v"}}, _content_type="application/merge-patch+json")
    core.delete_namespaced_config_map("a", "default")
    watcher, seen = watch.Watch(), []
    for event in watcher.stream(core.list_namespaced_config_map, "default", resource_version=rv, timeout_seconds=10):
        seen.append((event["type"], event["object"].metadata.name))
        if len(seen) == 3:
            watcher.stop()
    assert seen == [("ADDED", "a"), ("MODIFIED", "a"), ("DELETED", "a")]


def test_watch_without_resource_version_starts_with_current_state(kube_api: KubeApiServer) -> None:
    make(kube_api, "x")
    with stream(kube_api, CONFIGMAPS, timeoutSeconds="1") as events:
        first = next(events)
    assert first["type"] == "ADDED" and first["object"]["metadata"]["name"] == "x"
    assert first["object"]["kind"] == "ConfigMap" and first["object"]["apiVersion"] == "v1"


def test_resume_replays_only_later_events(kube_api: KubeApiServer) -> None:
    first = make(kube_api, "one")
    make(kube_api, "two")
    make(kube_api, "three")
    with stream(kube_api, CONFIGMAPS, resourceVersion=first["metadata"]["resourceVersion"]) as events:
        names = [next(events)["object"]["metadata"]["name"] for _ in range(2)]
    assert names == ["two", "three"]


def test_too_old_resource_version_is_a_410_error_event(kube_api: KubeApiServer, kube_client: client.ApiClient) -> None:
    old = make(kube_api, "old")["metadata"]["resourceVersion"]
    make(kube_api, "newer")
    kube_api.store.compact()
    with stream(kube_api, CONFIGMAPS, resourceVersion=old) as events:
        error = next(events)
    assert error["type"] == "ERROR"
    assert error["object"]["code"] == 410 and error["object"]["reason"] == "Expired"
    assert error["object"]["message"].startswith(f"too old resource version: {old} (")
    core = client.CoreV1Api(kube_client)
    with pytest.raises(ApiException) as caught:
        list(watch.Watch().stream(core.list_namespaced_config_map, "default", resource_version=old, timeout_seconds=2))
    assert caught.value.status == 410


def test_bookmarks_carry_the_current_resource_version(kube_api: KubeApiServer) -> None:
    kube_api.api.bookmark_interval = 0.1
    made = make(kube_api, "b")
    with stream(
        kube_api,
        CONFIGMAPS,
        resourceVersion=made["metadata"]["resourceVersion"],
        allowWatchBookmarks="true",
        timeoutSeconds="5",
    ) as events:
        bookmark = next(events)
    assert bookmark["type"] == "BOOKMARK"
    assert bookmark["object"]["kind"] == "ConfigMap" and bookmark["object"]["apiVersion"] == "v1"
    assert bookmark["object"]["metadata"]["resourceVersion"] == str(kube_api.store.resource_version)


def test_send_initial_events_ends_with_an_annotated_bookmark(kube_api: KubeApiServer) -> None:
    make(kube_api, "i")
    with stream(
        kube_api,
        CONFIGMAPS,
        sendInitialEvents="true",
        resourceVersionMatch="NotOlderThan",
        allowWatchBookmarks="true",
        timeoutSeconds="1",
    ) as events:
        added, bookmark = next(events), next(events)
    assert added["type"] == "ADDED"
    assert bookmark["type"] == "BOOKMARK"
    assert bookmark["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


def test_timeout_seconds_ends_the_stream(kube_api: KubeApiServer) -> None:
    with stream(
        kube_api, CONFIGMAPS, resourceVersion=str(kube_api.store.resource_version), timeoutSeconds="1"
    ) as events:
        assert list(events) == []


def test_relabelled_object_leaves_and_enters_a_selected_watch(kube_api: KubeApiServer) -> None:
    made = make(kube_api, "s", tier="web")
    patch = {"Content-Type": "application/merge-patch+json"}
    with stream(
        kube_api,
        CONFIGMAPS,
        labelSelector="tier=web",
        resourceVersion=made["metadata"]["resourceVersion"],
    ) as events:
        httpx.patch(kube_api.url + CONFIGMAPS + "/s", json={"metadata": {"labels": {"tier": "db"}}}, headers=patch)
        httpx.patch(kube_api.url + CONFIGMAPS + "/s", json={"metadata": {"labels": {"tier": "web"}}}, headers=patch)
        types = [next(events)["type"] for _ in range(2)]
    assert types == ["DELETED", "ADDED"]


def test_watch_of_all_namespaces_and_legacy_watch_path(kube_api: KubeApiServer) -> None:
    httpx.post(kube_api.url + "/api/v1/namespaces", json={"metadata": {"name": "other"}})
    httpx.post(kube_api.url + "/api/v1/namespaces/other/configmaps", json={"metadata": {"name": "o"}})
    make(kube_api, "d")
    with stream(kube_api, "/api/v1/configmaps") as events:
        assert sorted(next(events)["object"]["metadata"]["name"] for _ in range(2)) == ["d", "o"]
    with httpx.stream("GET", kube_api.url + "/api/v1/watch/namespaces/other/configmaps") as response:
        assert json.loads(next(response.iter_lines()))["object"]["metadata"]["name"] == "o"
