"""CRUD through the real `kubernetes` client: server-managed metadata, conflicts, patches, the status split."""

from __future__ import annotations

import json

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from kubesim import cel
from tests.kubesim.manifests import crd, widget

MERGE = "application/merge-patch+json"


def status_of(error: ApiException) -> dict:
    return json.loads(error.body)


@pytest.fixture
def widgets(kube_client: client.ApiClient) -> client.CustomObjectsApi:
    client.ApiextensionsV1Api(kube_client).create_custom_resource_definition(crd())
    return client.CustomObjectsApi(kube_client)


def create_widget(api: client.CustomObjectsApi, body: dict, namespace: str = "default") -> dict:
    return api.create_namespaced_custom_object("test.dhg.ai", "v1alpha1", namespace, "widgets", body)


def test_created_objects_get_uid_resource_version_timestamp_and_generation(kube_client: client.ApiClient) -> None:
    core = client.CoreV1Api(kube_client)
    first = core.create_namespaced_config_map("default", {"metadata": {"name": "a"}, "data": {"k": "v"}})
    second = core.create_namespaced_config_map("default", {"metadata": {"name": "b"}})
    assert first.metadata.uid and first.metadata.uid != second.metadata.uid
    assert int(second.metadata.resource_version) > int(first.metadata.resource_version)
    assert first.metadata.creation_timestamp is not None
    listed = core.list_namespaced_config_map("default")
    assert [c.metadata.name for c in listed.items] == ["a", "b"]
    assert int(listed.metadata.resource_version) >= int(second.metadata.resource_version)


def test_generate_name_gives_unique_names(kube_client: client.ApiClient) -> None:
    core = client.CoreV1Api(kube_client)
    names = {
        core.create_namespaced_config_map("default", {"metadata": {"generateName": "ev-"}}).metadata.name
        for _ in range(5)
    }
    assert len(names) == 5 and all(n.startswith("ev-") and len(n) == 8 for n in names)


def test_create_twice_is_409_already_exists(kube_client: client.ApiClient) -> None:
    core = client.CoreV1Api(kube_client)
    core.create_namespace({"metadata": {"name": "twice"}})
    with pytest.raises(ApiException) as caught:
        core.create_namespace({"metadata": {"name": "twice"}})
    assert caught.value.status == 409
    assert status_of(caught.value)["reason"] == "AlreadyExists"
    assert status_of(caught.value)["message"] == 'namespaces "twice" already exists'


def test_missing_object_is_404_not_found(kube_client: client.ApiClient) -> None:
    with pytest.raises(ApiException) as caught:
        client.BatchV1Api(kube_client).read_namespaced_job("nope", "default")
    body = status_of(caught.value)
    assert (caught.value.status, body["reason"], body["message"]) == (404, "NotFound", 'jobs.batch "nope" not found')
    assert body["details"] == {"name": "nope", "group": "batch", "kind": "jobs"}


def test_create_in_missing_namespace_is_404(kube_client: client.ApiClient) -> None:
    with pytest.raises(ApiException) as caught:
        client.CoreV1Api(kube_client).create_namespaced_config_map("ghost", {"metadata": {"name": "a"}})
    assert caught.value.status == 404 and status_of(caught.value)["message"] == 'namespaces "ghost" not found'


def test_invalid_name_is_422_with_cause(kube_client: client.ApiClient) -> None:
    leases = client.CoordinationV1Api(kube_client)
    with pytest.raises(ApiException) as caught:
        leases.create_namespaced_lease("default", {"metadata": {"name": "test_"}, "spec": {}})
    body = status_of(caught.value)
    assert caught.value.status == 422 and body["reason"] == "Invalid"
    assert body["details"]["causes"][0]["field"] == "metadata.name"
    assert body["message"].startswith('Lease.coordination.k8s.io "test_" is invalid: metadata.name: Invalid value')


def test_put_with_stale_resource_version_is_409_conflict(kube_client: client.ApiClient) -> None:
    leases = client.CoordinationV1Api(kube_client)
    lease = leases.create_namespaced_lease("default", {"metadata": {"name": "l"}, "spec": {"holderIdentity": "a"}})
    lease.spec.holder_identity = "b"
    updated = leases.replace_namespaced_lease("l", "default", lease)
    assert updated.spec.holder_identity == "b"
    lease.spec.holder_identity = "c"  # still carries the old resourceVersion
    with pytest.raises(ApiException) as caught:
        leases.replace_namespaced_lease("l", "default", lease)
    body = status_of(caught.value)
    assert caught.value.status == 409 and body["reason"] == "Conflict"
    assert "the object has been modified" in body["message"]


def test_put_without_resource_version_is_422_for_leases(kube_client: client.ApiClient) -> None:
    leases = client.CoordinationV1Api(kube_client)
    leases.create_namespaced_lease("default", {"metadata": {"name": "l"}, "spec": {}})
    with pytest.raises(ApiException) as caught:
        leases.replace_namespaced_lease("l", "default", {"metadata": {"name": "l"}, "spec": {}})
    assert caught.value.status == 422
    assert status_of(caught.value)["details"]["causes"][0]["field"] == "metadata.resourceVersion"


def test_merge_patch_merges_and_null_deletes(kube_client: client.ApiClient) -> None:
    core = client.CoreV1Api(kube_client)
    core.create_namespaced_config_map("default", {"metadata": {"name": "m", "labels": {"a": "1", "b": "2"}}})
    patched = core.patch_namespaced_config_map(
        "m", "default", {"metadata": {"labels": {"a": None, "c": "3"}}}, _content_type=MERGE
    )
    assert patched.metadata.labels == {"b": "2", "c": "3"}


def test_json_patch_test_failure_is_422_and_success_applies(kube_client: client.ApiClient) -> None:
    core = client.CoreV1Api(kube_client)
    cm = core.create_namespaced_config_map("default", {"metadata": {"name": "j", "finalizers": ["x/y"]}})
    failing = [
        {"op": "test", "path": "/metadata/finalizers", "value": ["other"]},
        {"op": "replace", "path": "/metadata/finalizers", "value": []},
    ]
    with pytest.raises(ApiException) as caught:
        core.patch_namespaced_config_map("j", "default", failing)
    assert caught.value.status == 422 and status_of(caught.value)["reason"] == "Invalid"
    passing = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": cm.metadata.resource_version},
        {"op": "remove", "path": "/metadata/finalizers/0"},
    ]
    assert core.patch_namespaced_config_map("j", "default", passing).metadata.finalizers is None


def test_patch_with_stale_resource_version_is_409(kube_client: client.ApiClient) -> None:
    core = client.CoreV1Api(kube_client)
    core.create_namespaced_config_map("default", {"metadata": {"name": "p"}})
    with pytest.raises(ApiException) as caught:
        core.patch_namespaced_config_map("p", "default", {"metadata": {"resourceVersion": "1"}}, _content_type=MERGE)
    assert caught.value.status == 409


def test_label_and_field_selectors_filter_lists(kube_client: client.ApiClient) -> None:
    core = client.CoreV1Api(kube_client)
    for name, tier in (("a", "web"), ("b", "db"), ("c", "web")):
        core.create_namespaced_config_map("default", {"metadata": {"name": name, "labels": {"tier": tier}}})
    assert [c.metadata.name for c in core.list_namespaced_config_map("default", label_selector="tier=web").items] == [
        "a",
        "c",
    ]
    assert [
        c.metadata.name
        for c in core.list_namespaced_config_map("default", label_selector="tier in (db),tier!=web").items
    ] == ["b"]
    assert [
        c.metadata.name for c in core.list_config_map_for_all_namespaces(field_selector="metadata.name=b").items
    ] == ["b"]
    with pytest.raises(ApiException) as caught:
        core.list_namespaced_config_map("default", field_selector="data.k=v")
    assert caught.value.status == 400 and "field label not supported" in status_of(caught.value)["message"]


def test_limit_and_continue_page_through_a_consistent_list(kube_client: client.ApiClient) -> None:
    core = client.CoreV1Api(kube_client)
    for index in range(5):
        core.create_namespaced_config_map("default", {"metadata": {"name": f"c{index}"}})
    first = core.list_namespaced_config_map("default", limit=2)
    assert [c.metadata.name for c in first.items] == ["c0", "c1"] and first.metadata.remaining_item_count == 3
    core.create_namespaced_config_map("default", {"metadata": {"name": "c9"}})  # not in the snapshot being paged
    rest = core.list_namespaced_config_map("default", limit=10, _continue=first.metadata._continue)
    assert [c.metadata.name for c in rest.items] == ["c2", "c3", "c4"]
    assert rest.metadata.resource_version == first.metadata.resource_version


def test_custom_resource_schema_defaults_prunes_and_validates(widgets: client.CustomObjectsApi) -> None:
    created = create_widget(widgets, {**widget("w1"), "spec": {"color": "red", "unknown": 1}})
    assert created["spec"] == {"color": "red", "size": 1}
    with pytest.raises(ApiException) as caught:
        create_widget(widgets, widget("w2", color="green", size=0))
    body = status_of(caught.value)
    assert caught.value.status == 422 and body["reason"] == "Invalid"
    assert {c["field"] for c in body["details"]["causes"]} == {"spec.color", "spec.size"}
    assert body["details"]["kind"] == "Widget" and body["details"]["group"] == "test.dhg.ai"
    with pytest.raises(ApiException) as caught:
        create_widget(widgets, {**widget("w3"), "spec": {}})
    assert status_of(caught.value)["details"]["causes"][0] == {
        "reason": "FieldValueRequired",
        "message": "Required value",
        "field": "spec.color",
    }


def test_status_subresource_splits_writes_and_generation_tracks_spec(widgets: client.CustomObjectsApi) -> None:
    group = ("test.dhg.ai", "v1alpha1", "default", "widgets", "w")
    created = create_widget(widgets, {**widget("w"), "status": {"phase": "ignored"}})
    assert "status" not in created and created["metadata"]["generation"] == 1
    with_status = widgets.patch_namespaced_custom_object_status(
        *group, {"status": {"phase": "Ready"}}, _content_type=MERGE
    )
    assert with_status["status"] == {"phase": "Ready"} and with_status["metadata"]["generation"] == 1
    main = widgets.patch_namespaced_custom_object(
        *group, {"spec": {"size": 3}, "status": {"phase": "Nope"}}, _content_type=MERGE
    )
    assert main["spec"]["size"] == 3 and main["status"] == {"phase": "Ready"}
    assert main["metadata"]["generation"] == 2
    labelled = widgets.patch_namespaced_custom_object(*group, {"metadata": {"labels": {"x": "y"}}}, _content_type=MERGE)
    assert labelled["metadata"]["generation"] == 2
    status_only = widgets.patch_namespaced_custom_object_status(
        *group, {"spec": {"size": 9}, "status": {"phase": "Done"}}, _content_type=MERGE
    )
    assert status_only["spec"]["size"] == 3 and status_only["status"]["phase"] == "Done"


def test_finalizers_hold_deletion_until_removed(widgets: client.CustomObjectsApi) -> None:
    group = ("test.dhg.ai", "v1alpha1", "default", "widgets", "f")
    create_widget(widgets, {**widget("f"), "metadata": {"name": "f", "finalizers": ["test.dhg.ai/cleanup"]}})
    deleting = widgets.delete_namespaced_custom_object(*group)
    assert deleting["metadata"]["deletionTimestamp"] and deleting["metadata"]["finalizers"] == ["test.dhg.ai/cleanup"]
    with pytest.raises(ApiException) as caught:
        widgets.patch_namespaced_custom_object(
            *group, {"metadata": {"finalizers": ["test.dhg.ai/cleanup", "more"]}}, _content_type=MERGE
        )
    assert caught.value.status == 422
    widgets.patch_namespaced_custom_object(*group, {"metadata": {"finalizers": None}}, _content_type=MERGE)
    with pytest.raises(ApiException) as caught:
        widgets.get_namespaced_custom_object(*group)
    assert caught.value.status == 404


def test_unknown_resource_and_method_are_refused(kube_client: client.ApiClient) -> None:
    with pytest.raises(ApiException) as caught:
        client.CustomObjectsApi(kube_client).list_namespaced_custom_object("nope.dhg.ai", "v1", "default", "things")
    assert caught.value.status == 404
    assert status_of(caught.value)["message"] == "the server could not find the requested resource"


def test_deleting_a_crd_removes_its_type_and_objects(
    kube_client: client.ApiClient, widgets: client.CustomObjectsApi
) -> None:
    create_widget(widgets, widget("gone"))
    client.ApiextensionsV1Api(kube_client).delete_custom_resource_definition("widgets.test.dhg.ai")
    with pytest.raises(ApiException) as caught:
        widgets.list_namespaced_custom_object("test.dhg.ai", "v1alpha1", "default", "widgets")
    assert caught.value.status == 404


def test_cel_rules_refuse_invalid_values_and_changes_to_immutable_fields(widgets: client.CustomObjectsApi) -> None:
    with pytest.raises(ApiException) as caught:
        create_widget(widgets, widget("c1", note="forbidden"))
    assert status_of(caught.value)["details"]["causes"] == [
        {"reason": "FieldValueInvalid", "message": 'Invalid value: "object": that note is forbidden', "field": "spec"}
    ]
    create_widget(widgets, widget("c2", note=None))  # nullable: null is allowed, and the rule holds without it
    group = ("test.dhg.ai", "v1alpha1", "default", "widgets", "c2")
    with pytest.raises(ApiException) as caught:
        widgets.patch_namespaced_custom_object(*group, {"spec": {"color": "blue"}}, _content_type=MERGE)
    cause = status_of(caught.value)["details"]["causes"][0]
    assert (cause["field"], cause["message"]) == ("spec.color", 'Invalid value: "blue": color is immutable')
    assert (
        widgets.patch_namespaced_custom_object(*group, {"spec": {"size": 2}}, _content_type=MERGE)["spec"]["size"] == 2
    )


def test_unchanged_values_are_not_validated_again(
    kube_client: client.ApiClient, widgets: client.CustomObjectsApi
) -> None:
    """Ratcheting (Kubernetes 1.30+): a rule added later does not block writes that leave the offending value alone."""
    create_widget(widgets, widget("legacy", note="legacy"))
    stricter = crd()
    spec_schema = stricter["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    spec_schema["x-kubernetes-validations"].append(
        {"rule": "!has(self.note) || self.note != 'legacy'", "message": "legacy notes are retired"}
    )
    extensions = client.ApiextensionsV1Api(kube_client)
    extensions.patch_custom_resource_definition(
        "widgets.test.dhg.ai", {"spec": {"versions": stricter["spec"]["versions"]}}, _content_type=MERGE
    )
    group = ("test.dhg.ai", "v1alpha1", "default", "widgets", "legacy")
    patched = widgets.patch_namespaced_custom_object_status(*group, {"status": {"phase": "Ready"}}, _content_type=MERGE)
    assert patched["status"]["phase"] == "Ready"
    with pytest.raises(ApiException) as caught:
        widgets.patch_namespaced_custom_object(*group, {"spec": {"size": 2}}, _content_type=MERGE)
    cause = status_of(caught.value)["details"]["causes"][0]
    assert (cause["field"], cause["message"]) == ("spec", 'Invalid value: "object": legacy notes are retired')


def test_a_crd_with_a_rule_that_does_not_compile_is_refused(kube_client: client.ApiClient) -> None:
    broken = crd()
    broken["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["x-kubernetes-validations"] = [{"rule": "self.(("}]
    with pytest.raises(ApiException) as caught:
        client.ApiextensionsV1Api(kube_client).create_custom_resource_definition(broken)
    assert caught.value.status == 422 and "compilation failed" in caught.value.body


def test_ratcheting_spares_unchanged_values_but_not_transition_rules() -> None:
    """Upstream ratchets only rules without `oldSelf`: an unchanged value still answers to its transition rules."""
    schema = {
        "type": "object",
        "x-kubernetes-validations": [
            {"rule": "self.size < 3", "message": "too big"},
            {"rule": "self == oldSelf", "message": "immutable"},
            {"rule": "self.size > oldSelf.size", "message": "must grow"},
        ],
        "properties": {"size": {"type": "integer"}},
    }
    assert [c["message"] for c in cel.violations({"size": 5}, {"size": 5}, schema)] == [
        'Invalid value: "object": must grow'
    ]
    changed = [c["message"] for c in cel.violations({"size": 6}, {"size": 5}, schema)]
    assert changed == ['Invalid value: "object": too big', 'Invalid value: "object": immutable']
