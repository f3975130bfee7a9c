"""The stand-in's pure parts: patches, selectors, JSONPath, schema pruning and defaulting, quantities."""

from __future__ import annotations

import pytest

from kubesim import containers, errors, jsonpath, patches, schema, selectors
from kubesim.scheduler import quantity


def test_merge_patch_follows_rfc_7386() -> None:
    target = {"a": "b", "c": {"d": "e", "f": "g"}, "list": [1, 2]}
    patch = {"a": "z", "c": {"f": None}, "list": [3]}
    assert patches.merge_patch(target, patch) == {"a": "z", "c": {"d": "e"}, "list": [3]}


def test_json_patch_operations_and_pointer_escapes() -> None:
    document = {"metadata": {"annotations": {"a/b": "1"}, "finalizers": ["x"]}, "spec": {"items": [1, 2]}}
    operations = [
        {"op": "add", "path": "/spec/items/-", "value": 3},
        {"op": "replace", "path": "/metadata/annotations/a~1b", "value": "2"},
        {"op": "copy", "from": "/spec/items/0", "path": "/spec/first"},
        {"op": "move", "from": "/spec/first", "path": "/spec/moved"},
        {"op": "remove", "path": "/metadata/finalizers/0"},
        {"op": "test", "path": "/spec/items", "value": [1, 2, 3]},
    ]
    assert patches.json_patch(document, operations) == {
        "metadata": {"annotations": {"a/b": "2"}, "finalizers": []},
        "spec": {"items": [1, 2, 3], "moved": 1},
    }


@pytest.mark.parametrize(
    ("operation", "message"),
    [
        ({"op": "test", "path": "/a", "value": 2}, "testing value /a failed: test failed"),
        ({"op": "remove", "path": "/missing"}, "remove operation does not apply: doc is missing path: /missing"),
        ({"op": "replace", "path": "/b/c", "value": 1}, "replace operation does not apply: doc is missing path: /b/c"),
    ],
)
def test_failed_json_patch_is_a_422(operation: dict, message: str) -> None:
    with pytest.raises(errors.ApiError) as caught:
        patches.json_patch({"a": 1}, [operation])
    assert caught.value.code == 422 and caught.value.details["causes"][0]["message"] == message  # type: ignore[index]


def test_strategic_merge_patch_merges_lists_by_key_and_honours_directives() -> None:
    pod = {
        "metadata": {"finalizers": ["a"], "labels": {"x": "1"}},
        "spec": {
            "containers": [
                {"name": "main", "image": "v1", "env": [{"name": "A", "value": "1"}]},
                {"name": "side", "image": "s"},
            ]
        },
    }
    patch = {
        "metadata": {"finalizers": ["b"], "labels": {"x": None}},
        "spec": {
            "$setElementOrder/containers": [{"name": "main"}, {"name": "side"}],
            "containers": [
                {"name": "main", "image": "v2", "env": [{"name": "B", "value": "2"}]},
                {"name": "side", "$patch": "delete"},
            ],
        },
    }
    assert patches.strategic_merge_patch(pod, patch) == {
        "metadata": {"finalizers": ["a", "b"], "labels": {}},
        "spec": {
            "containers": [
                {"name": "main", "image": "v2", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}
            ]
        },
    }
    removed = patches.strategic_merge_patch(pod, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}})
    assert removed["metadata"]["finalizers"] == []


def test_label_selectors_equality_and_sets() -> None:
    obj = {"metadata": {"labels": {"app": "asr", "tier": "gpu"}}}
    for selector, expected in [
        ("app=asr", True),
        ("app==asr,tier!=gpu", False),
        ("tier in (cpu, gpu)", True),
        ("tier notin (gpu)", False),
        ("app", True),
        ("!app", False),
        ("missing", False),
    ]:
        assert selectors.label_selector(selector)(obj) is expected, selector


def test_field_selectors_accept_only_indexed_fields() -> None:
    pod = {"metadata": {"name": "p", "namespace": "n"}, "spec": {"nodeName": "gpu-1"}, "status": {"phase": "Running"}}
    supported = frozenset({"metadata.name", "spec.nodeName", "status.phase"})
    assert selectors.field_selector("spec.nodeName=gpu-1,status.phase!=Failed", supported)(pod)
    with pytest.raises(errors.ApiError) as caught:
        selectors.field_selector("spec.priority=1", supported)
    assert caught.value.code == 400 and caught.value.message == "field label not supported: spec.priority"


def test_jsonpath_subset_for_printer_columns() -> None:
    obj = {"status": {"conditions": [{"type": "A", "status": "False"}, {"type": "Ready", "status": "True"}]}}
    assert jsonpath.find(obj, '.status.conditions[?(@.type=="Ready")].status') == ["True"]
    assert jsonpath.find(obj, ".status.conditions[0].type") == ["A"]
    assert jsonpath.find(obj, ".status.missing") == []
    with pytest.raises(ValueError):
        jsonpath.parse(".status..phase")


def test_structural_schema_prunes_and_defaults() -> None:
    spec_schema = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "properties": {
                    "size": {"type": "integer", "default": 1},
                    "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                },
            },
        },
    }
    obj = {
        "apiVersion": "x/v1",
        "kind": "X",
        "metadata": {"name": "n"},
        "spec": {"junk": 1, "free": {"any": 2}},
        "top": 1,
    }
    assert schema.prune(obj, spec_schema) == ["spec.junk", "top"]
    schema.apply_defaults(obj, spec_schema)
    assert obj == {
        "apiVersion": "x/v1",
        "kind": "X",
        "metadata": {"name": "n"},
        "spec": {"free": {"any": 2}, "size": 1},
    }


def test_quantities() -> None:
    assert [quantity(q) for q in ("1", 2, "500m", "2Gi", "1k")] == [1, 2, 0.5, 2 * 2**30, 1000]


def test_container_paths_are_rewritten_once_as_whole_path_prefixes() -> None:
    mapping = {"/tmp": "/tmp/pytest/scratch", "/dev/termination-log": "/tmp/pytest/term", "/data": "/srv/claim"}
    assert containers.rewrite('HOME=/tmp ["/data"] /tmp/outbox /dev/termination-log /tmpfile /x/tmp', mapping) == (
        'HOME=/tmp/pytest/scratch ["/srv/claim"] /tmp/pytest/scratch/outbox /tmp/pytest/term /tmpfile /x/tmp'
    )
