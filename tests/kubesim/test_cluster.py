"""The simulated cluster: Jobs create pods, the scheduler binds or refuses them, the kubelet runs them."""

from __future__ import annotations

import json
import sys

import httpx
import pytest

from kubesim import GPU_RESOURCE, GPU_TAINT, KubeApiServer, SimulatedCluster
from kubesim.waiting import condition, events_about, wait_for, wait_until
from tests.kubesim.realdata import fixture

JOBS = "/apis/batch/v1/namespaces/default/jobs"
PODS = "/api/v1/namespaces/default/pods"
GPU_TOLERATION = {"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}


def job(name: str, code: str, **container: object) -> dict:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {
                            "name": "worker",
                            "image": "dhg/asr:test",
                            "command": [sys.executable, "-c", code],
                            **container,
                        }
                    ],
                }
            },
        },
    }


def pod(name: str, **spec: object) -> dict:
    container = {"name": "main", "image": "dhg/asr:test", "command": [sys.executable, "-c", "pass"]}
    resources = spec.pop("resources", None)
    if resources:
        container["resources"] = resources
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {"containers": [container], **spec}}


def only_pod_of(api: KubeApiServer, job_name: str) -> dict:
    pods = httpx.get(api.url + PODS, params={"labelSelector": f"job-name={job_name}"}).json()["items"]
    assert len(pods) == 1
    return pods[0]


def test_job_runs_its_pod_to_completion(kube_api: KubeApiServer, cluster: SimulatedCluster) -> None:
    cluster.add_node("cpu-1")
    code = "import os; open('/dev/termination-log', 'w').write('done ' + os.environ['GREETING']); print('hello')"
    created = httpx.post(kube_api.url + JOBS, json=job("ok", code, env=[{"name": "GREETING", "value": "hi"}])).json()
    done = wait_for(kube_api, "batch", "jobs", "default", "ok", lambda j: condition(j, "Complete") is not None)
    assert done is not None
    assert [c["type"] for c in done["status"]["conditions"]] == ["SuccessCriteriaMet", "Complete"]
    real = fixture("job-Complete-SuccessCriteriaMet-kube-rs-snippet.json")["status"]
    assert set(done["status"]) == set(real)
    assert set(done["status"]["conditions"][1]) == set(real["conditions"][1])
    worker = only_pod_of(kube_api, "ok")
    owner = worker["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["uid"], owner["controller"]) == ("Job", created["metadata"]["uid"], True)
    assert worker["metadata"]["labels"]["batch.kubernetes.io/controller-uid"] == created["metadata"]["uid"]
    terminated = worker["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (worker["status"]["phase"], terminated["exitCode"], terminated["reason"]) == ("Succeeded", 0, "Completed")
    assert terminated["message"] == "done hi"
    assert worker["spec"]["nodeName"] == "cpu-1"
    assert httpx.get(f"{kube_api.url}{PODS}/{worker['metadata']['name']}/log").text == "hello\n"


def test_failing_pod_fails_the_job_at_backoff_limit_zero(kube_api: KubeApiServer, cluster: SimulatedCluster) -> None:
    cluster.add_node("cpu-1")
    httpx.post(kube_api.url + JOBS, json=job("bad", "import sys; sys.exit(3)"))
    failed = wait_for(kube_api, "batch", "jobs", "default", "bad", lambda j: condition(j, "Failed") is not None)
    assert condition(failed, "Failed")["reason"] == "BackoffLimitExceeded"  # type: ignore[index]
    assert failed["status"]["failed"] == 1  # type: ignore[index]
    worker = only_pod_of(kube_api, "bad")
    real = fixture("pod-Failed-job-pod-exitCode3-NO-TYPEMETA.json")["status"]["containerStatuses"][0]
    terminated = worker["status"]["containerStatuses"][0]["state"]["terminated"]
    assert set(terminated) == set(real["state"]["terminated"])
    assert (worker["status"]["phase"], terminated["exitCode"], terminated["reason"]) == ("Failed", 3, "Error")


def test_gpu_pod_is_unschedulable_until_a_gpu_node_appears(kube_api: KubeApiServer, cluster: SimulatedCluster) -> None:
    cluster.add_node("cpu-1")
    gpu_pod = pod("gpu", tolerations=[GPU_TOLERATION], resources={"limits": {GPU_RESOURCE: 1}})
    httpx.post(kube_api.url + PODS, json=gpu_pod).raise_for_status()
    pending = wait_for(kube_api, "", "pods", "default", "gpu", lambda p: condition(p, "PodScheduled") is not None)
    scheduled = condition(pending, "PodScheduled")
    real = condition(fixture("pod-Pending-Unschedulable-kube-rs-snippet.json"), "PodScheduled")
    assert set(scheduled) == set(real)  # type: ignore[arg-type]
    assert (scheduled["status"], scheduled["reason"]) == ("False", "Unschedulable")  # type: ignore[index]
    assert scheduled["message"] == (
        "0/1 nodes are available: 1 Insufficient nvidia.com/gpu. preemption: 0/1 nodes "  # type: ignore[index]
        "are available: 1 Preemption is not helpful for scheduling."
    )
    events = httpx.get(
        kube_api.url + "/api/v1/namespaces/default/events",
        params={"fieldSelector": "involvedObject.name=gpu,reason=FailedScheduling"},
    ).json()["items"]
    assert events and events[0]["type"] == "Warning"
    cluster.add_node("gpu-1", gpus=1, labels={"nvidia.com/gpu.present": "true"}, taints=[GPU_TAINT])
    bound = wait_for(kube_api, "", "pods", "default", "gpu", lambda p: bool(p and p["spec"].get("nodeName")))
    assert bound["spec"]["nodeName"] == "gpu-1"  # type: ignore[index]


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ({}, "1 node(s) had untolerated taint {nvidia.com/gpu: present}"),
        (
            {"tolerations": [GPU_TOLERATION], "nodeSelector": {"pool": "cpu"}},
            "1 node(s) didn't match Pod's node affinity/selector",
        ),
    ],
)
def test_scheduler_explains_taints_and_selectors(
    kube_api: KubeApiServer, cluster: SimulatedCluster, spec: dict, reason: str
) -> None:
    cluster.add_node("gpu-1", gpus=1, taints=[GPU_TAINT])
    httpx.post(kube_api.url + PODS, json=pod("p", **spec)).raise_for_status()
    pending = wait_for(kube_api, "", "pods", "default", "p", lambda p: condition(p, "PodScheduled") is not None)
    assert condition(pending, "PodScheduled")["message"].startswith(f"0/1 nodes are available: {reason}.")  # type: ignore[index]


def test_gpu_requests_count_against_allocatable(kube_api: KubeApiServer, cluster: SimulatedCluster) -> None:
    cluster.add_node("gpu-1", gpus=1, taints=[GPU_TAINT])
    sleeper = pod("first", tolerations=[GPU_TOLERATION], resources={"limits": {GPU_RESOURCE: 1}})
    sleeper["spec"]["containers"][0]["command"] = [sys.executable, "-c", "import time; time.sleep(60)"]
    httpx.post(kube_api.url + PODS, json=sleeper).raise_for_status()
    wait_for(kube_api, "", "pods", "default", "first", lambda p: bool(p and p["spec"].get("nodeName")))
    httpx.post(
        kube_api.url + PODS, json=pod("second", tolerations=[GPU_TOLERATION], resources={"limits": {GPU_RESOURCE: 1}})
    ).raise_for_status()
    pending = wait_for(kube_api, "", "pods", "default", "second", lambda p: condition(p, "PodScheduled") is not None)
    assert "1 Insufficient nvidia.com/gpu" in condition(pending, "PodScheduled")["message"]  # type: ignore[index]
    httpx.delete(f"{kube_api.url}{PODS}/first")  # the kubelet stops the process; the GPU is free again
    bound = wait_for(kube_api, "", "pods", "default", "second", lambda p: bool(p and p["spec"].get("nodeName")))
    assert bound["spec"]["nodeName"] == "gpu-1"  # type: ignore[index]


def test_job_past_its_active_deadline_fails_and_its_pod_is_stopped(
    kube_api: KubeApiServer, cluster: SimulatedCluster
) -> None:
    cluster.add_node("cpu-1")
    slow = job("slow", "import time; time.sleep(60)")
    slow["spec"]["activeDeadlineSeconds"] = 1
    httpx.post(kube_api.url + JOBS, json=slow).raise_for_status()
    failed = wait_for(kube_api, "batch", "jobs", "default", "slow", lambda j: condition(j, "Failed") is not None)
    assert condition(failed, "Failed")["reason"] == "DeadlineExceeded"  # type: ignore[index]
    pods = kube_api.store.registry.get("", "pods")
    assert pods is not None
    wait_until(kube_api, lambda: not kube_api.store.list(pods, "default")[0], what="the Job's pod to be gone")


def test_worker_like_pod_gets_secrets_volumes_and_its_termination_file(
    kube_api: KubeApiServer, cluster: SimulatedCluster
) -> None:
    cluster.add_node("cpu-1")
    secret = {"metadata": {"name": "registry-token"}, "stringData": {"token": "s3cret"}}
    claim = cluster.claim_path("default", "media")
    (claim / "input.txt").write_text("audio")
    code = (
        "import json, os, pathlib; root = json.loads(os.environ['ROOTS'])[0];"
        "pathlib.Path(os.environ['HOME'], 'outbox').mkdir();"
        "pathlib.Path(os.environ['TERM_LOG']).write_text(json.dumps({'token': os.environ['TOKEN'],"
        " 'input': pathlib.Path(root, 'input.txt').read_text(), 'pod': os.environ['POD']}))"
    )
    worker = pod(
        "worker",
        volumes=[
            {"name": "scratch", "emptyDir": {}},
            {"name": "data", "persistentVolumeClaim": {"claimName": "media"}},
        ],
    )
    worker["spec"]["containers"][0].update(
        command=[sys.executable, "-c", code],
        # Not /tmp: the kubelet maps mount paths wherever they appear in the command, and a checkout under /tmp
        # (as CI's may be) would lose its interpreter's path.
        volumeMounts=[{"name": "scratch", "mountPath": "/scratch"}, {"name": "data", "mountPath": "/data"}],
        env=[
            {"name": "HOME", "value": "/scratch"},
            {"name": "ROOTS", "value": '["/data"]'},
            {"name": "TERM_LOG", "value": "/dev/termination-log"},
            {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "registry-token", "key": "token"}}},
            {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        ],
    )
    httpx.post(kube_api.url + PODS, json=worker).raise_for_status()
    waiting = wait_for(kube_api, "", "pods", "default", "worker", lambda p: "containerStatuses" in p["status"])  # type: ignore[index]
    state = waiting["status"]["containerStatuses"][0]["state"]  # type: ignore[index]
    assert state == {
        "waiting": {"reason": "CreateContainerConfigError", "message": 'secret "registry-token" not found'}
    }
    httpx.post(kube_api.url + "/api/v1/namespaces/default/secrets", json=secret).raise_for_status()
    done = wait_for(kube_api, "", "pods", "default", "worker", lambda p: p["status"]["phase"] == "Succeeded")  # type: ignore[index]
    message = done["status"]["containerStatuses"][0]["state"]["terminated"]["message"]  # type: ignore[index]
    assert json.loads(message) == {"token": "s3cret", "input": "audio", "pod": "worker"}


def test_running_pod_terminates_gracefully_before_it_is_removed(
    kube_api: KubeApiServer, cluster: SimulatedCluster
) -> None:
    cluster.add_node("cpu-1")
    sleeper = pod("sleeper")
    sleeper["spec"]["containers"][0]["command"] = [sys.executable, "-c", "import time; time.sleep(60)"]
    httpx.post(kube_api.url + PODS, json=sleeper).raise_for_status()
    wait_for(kube_api, "", "pods", "default", "sleeper", lambda p: p["status"]["phase"] == "Running")  # type: ignore[index]
    deleting = httpx.delete(f"{kube_api.url}{PODS}/sleeper").json()
    assert deleting["metadata"]["deletionGracePeriodSeconds"] == 30 and deleting["metadata"]["deletionTimestamp"]
    wait_for(kube_api, "", "pods", "default", "sleeper", lambda p: p is None)  # the kubelet stopped it, then removed it


def test_unbound_pod_is_deleted_at_once(kube_api: KubeApiServer) -> None:
    httpx.post(kube_api.url + PODS, json=pod("unbound")).raise_for_status()
    assert httpx.delete(f"{kube_api.url}{PODS}/unbound").status_code == 200
    assert httpx.get(f"{kube_api.url}{PODS}/unbound").status_code == 404


def test_kubelet_events_have_the_real_event_shape(kube_api: KubeApiServer, cluster: SimulatedCluster) -> None:
    cluster.add_node("cpu-1")
    httpx.post(kube_api.url + PODS, json=pod("evented")).raise_for_status()
    started = wait_until(kube_api, lambda: [e for e in events_about(kube_api, "evented") if e["reason"] == "Started"])
    real = fixture("event-v1-Event-kubectl-json.json")
    assert set(started[0]) == set(real)
    assert set(started[0]["involvedObject"]) == set(real["involvedObject"])
    assert set(started[0]["metadata"]) == set(real["metadata"]) - {"selfLink"}  # selfLink is gone since 1.20
    assert started[0]["involvedObject"]["fieldPath"] == "spec.containers{main}"
    assert started[0]["source"] == {"component": "kubelet", "host": "cpu-1"}
