"""Real kubectl v1.33 against the stand-in: get, apply (create and update), printer columns, wait, delete."""

from __future__ import annotations

import json
import queue
import sys
import threading

from kubesim import KubeApiServer, SimulatedCluster
from kubesim.fixtures import Kubectl
from tests.kubesim.manifests import crd, widget

JOB = {
    "apiVersion": "batch/v1",
    "kind": "Job",
    "metadata": {"name": "hello", "labels": {"app": "hello"}},
    "spec": {
        "backoffLimit": 0,
        "template": {
            "spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "main", "image": "busybox:1.36", "command": ["true"]}],
            }
        },
    },
}


def test_get_namespaces_as_json_and_table(kubectl: Kubectl) -> None:
    listed = kubectl.json("get", "namespaces")
    assert listed["kind"] == "List" or listed["kind"] == "NamespaceList"
    assert {n["metadata"]["name"] for n in listed["items"]} >= {"default", "kube-system"}
    table = kubectl.run("get", "namespaces").stdout
    assert table.splitlines()[0].split() == ["NAME", "STATUS", "AGE"]
    assert "default" in table and "Active" in table


def test_apply_creates_then_patches_a_builtin_kind(kubectl: Kubectl, kube_api: KubeApiServer) -> None:
    assert "job.batch/hello created" in kubectl.apply(JOB)
    changed = json.loads(json.dumps(JOB))
    changed["metadata"]["labels"]["stage"] = "two"
    assert "job.batch/hello configured" in kubectl.apply(changed)
    assert "job.batch/hello unchanged" in kubectl.apply(changed)
    job = kubectl.json("get", "job", "hello")
    assert job["metadata"]["labels"] == {"app": "hello", "stage": "two"}
    assert "kubectl.kubernetes.io/last-applied-configuration" in job["metadata"]["annotations"]
    assert job["spec"]["template"]["metadata"]["labels"]["batch.kubernetes.io/job-name"] == "hello"


def test_apply_crd_then_custom_resources_with_printer_columns(kubectl: Kubectl) -> None:
    assert "created" in kubectl.apply(crd())
    kubectl.apply(widget("w1", color="blue", size=3))
    got = kubectl.json("get", "widgets.test.dhg.ai", "w1")
    assert got["spec"] == {"color": "blue", "size": 3} and got["kind"] == "Widget"
    lines = kubectl.run("get", "wd").stdout.splitlines()
    assert lines[0].split() == ["NAME", "COLOR", "SIZE", "PHASE", "READY", "AGE"]
    assert lines[1].split()[:3] == ["w1", "blue", "3"]
    kubectl.apply(widget("w1", color="blue", size=4))
    assert kubectl.json("get", "wd", "w1")["metadata"]["generation"] == 2


def test_apply_refuses_an_invalid_custom_resource(kubectl: Kubectl) -> None:
    kubectl.apply(crd())
    result = kubectl.run("apply", "-f", "-", input=json.dumps(widget("bad", color="green")), check=False)
    assert result.returncode != 0
    assert 'Unsupported value: "green"' in result.stderr


def test_apply_with_an_unknown_field_fails_strict_validation(kubectl: Kubectl) -> None:
    kubectl.apply(crd())
    manifest = widget("strict")
    manifest["spec"]["colour"] = "red"
    result = kubectl.run("apply", "-f", "-", input=json.dumps(manifest), check=False)
    assert result.returncode != 0 and 'unknown field "spec.colour"' in result.stderr


def test_wait_for_a_condition_set_later(kubectl: Kubectl, kube_api: KubeApiServer) -> None:
    kubectl.apply(crd())
    kubectl.apply(widget("waiting"))
    widgets = kube_api.store.registry.get("test.dhg.ai", "widgets")
    assert widgets is not None
    waiting = kubectl.start("wait", "--for=condition=Ready", "widget/waiting", "--timeout=20s")
    kube_api.api.wait_for_watches(1)  # kubectl has listed and is watching: now make the condition true
    kube_api.store.patch(
        widgets,
        "default",
        "waiting",
        subresource="status",
        apply=lambda w: {**w, "status": {"conditions": [{"type": "Ready", "status": "True"}]}},
    )
    out, err = waiting.communicate(timeout=30)
    assert waiting.returncode == 0, err
    assert "widget.test.dhg.ai/waiting condition met" in out


def test_wait_for_a_job_run_by_the_simulated_cluster(kubectl: Kubectl, cluster: SimulatedCluster) -> None:
    cluster.add_node("cpu-1")
    job = json.loads(json.dumps(JOB))
    job["spec"]["template"]["spec"]["containers"][0]["command"] = [sys.executable, "-c", "print('transcribed')"]
    kubectl.apply(job)
    assert "condition met" in kubectl.run("wait", "--for=condition=complete", "job/hello", "--timeout=30s").stdout
    pods = kubectl.run("get", "pods", "-l", "job-name=hello").stdout.splitlines()
    assert pods[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert pods[1].split()[1:3] == ["0/1", "Completed"]
    assert kubectl.run("logs", "job/hello").stdout == "transcribed\n"
    events = kubectl.run("get", "events", "--field-selector", "reason=Started").stdout.splitlines()
    assert events[0].split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert events[1].split()[1:4] == ["Normal", "Started", f"pod/{pods[1].split()[0]}"]
    described = kubectl.run("describe", "pod", "-l", "job-name=hello").stdout
    assert "Successfully assigned default/hello-" in described and "Started container main" in described


def test_delete_waits_for_finalizers(kubectl: Kubectl, kube_api: KubeApiServer) -> None:
    kubectl.apply(crd())
    held = widget("held")
    held["metadata"]["finalizers"] = ["test.dhg.ai/hold"]
    kubectl.apply(held)
    result = kubectl.run("delete", "widget", "held", "--wait=false")
    assert 'widget.test.dhg.ai "held" deleted' in result.stdout
    assert kubectl.json("get", "widget", "held")["metadata"]["deletionTimestamp"]
    kubectl.run("patch", "widget", "held", "--type=merge", "-p", '{"metadata":{"finalizers":null}}')
    assert "NotFound" in kubectl.run("get", "widget", "held", check=False).stderr


def test_delete_and_describe_builtin_objects(kubectl: Kubectl) -> None:
    kubectl.apply(JOB)
    described = kubectl.run("describe", "job", "hello").stdout
    assert "Name:" in described and "hello" in described
    assert 'job.batch "hello" deleted' in kubectl.run("delete", "job", "hello").stdout
    assert kubectl.json("get", "jobs")["items"] == []


def test_get_watch_prints_rows_as_objects_change(kubectl: Kubectl, kube_api: KubeApiServer) -> None:
    kubectl.apply(crd())
    watching = kubectl.start("get", "widgets", "--watch", "--output-watch-events")
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in watching.stdout], daemon=True)  # type: ignore[union-attr]
    reader.start()
    try:
        kube_api.api.wait_for_watches(1)
        kubectl.apply(widget("watched", color="blue", size=5))
        header, added = lines.get(timeout=20).split(), lines.get(timeout=20).split()
    finally:
        watching.terminate()
        watching.wait(10)
    assert header[:5] == ["EVENT", "NAME", "COLOR", "SIZE", "PHASE"]
    assert added[:4] == ["ADDED", "watched", "blue", "5"]
