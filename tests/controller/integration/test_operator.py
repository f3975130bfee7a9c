"""The real Kopf operator against the test Kubernetes API with its simulated scheduler, Job controller and kubelet
(kubesim): TranscriptionJobs applied with real kubectl run to the end on GPU, fall back to CPU, fail on bad
input, and take their Jobs and pods with them when deleted. The kubelet runs tests/controller/fake_worker.py in
place of the worker image (same arguments, summary and exit codes; the real worker has its own tests)."""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime

import yaml
from kopf.testing import KopfRunner
from kubernetes import client as k8s
from prometheus_client import REGISTRY

from controller.settings import get_settings
from kubesim import GPU_TAINT
from kubesim.waiting import wait_for, wait_until
from tests.conftest import make_token, start_registry
from tests.controller.integration.support import (
    GROUP,
    KOPF_RUN,
    PLURAL,
    ROOT,
    delete_while_running,
    finished,
    job,
    worker_jobs,
)


def jobs_gauge(phase: str, device: str) -> float | None:
    return REGISTRY.get_sample_value("dhg_controller_jobs", {"phase": phase, "device": device})


def test_auto_runs_on_a_gpu_node_and_reports_in_status_and_kubectl(kube_api, cluster, kubectl, operator):
    cluster.add_node("gpu-1", gpus=1, labels={"nvidia.com/gpu.present": "true"}, taints=[GPU_TAINT])
    cluster.add_node("cpu-1")
    kubectl.apply(job("keynote"))
    status = finished(kube_api, "keynote")["status"]
    assert status["phase"] == "Succeeded" and status["device"] == "gpu" and status["nodeName"] == "gpu-1"
    assert status["transcriptId"] == "7d1f9c2e-0000-4000-8000-00000000000a" and status["realTimeFactor"] == 15.0
    transcript = "http://dhg-registry:8000/v1/transcripts/7d1f9c2e-0000-4000-8000-00000000000a"
    assert status["outputs"] == {"json": f"{transcript}?format=json"}  # outputFormats' default, where workers push
    assert {c["type"]: c["status"] for c in status["conditions"]}["Succeeded"] == "True"
    (worker,) = worker_jobs(kube_api, "keynote")
    assert worker["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    table = kubectl.run("get", "tj", "keynote").stdout
    assert "Succeeded" in table and "gpu" in table and "15" in table
    events = kubectl.json("get", "events", "--field-selector", "involvedObject.name=keynote")["items"]
    assert {"JobCreated", "Succeeded"} <= {e["reason"] for e in events}


def test_auto_without_gpu_nodes_runs_on_cpu_at_once(kube_api, cluster, kubectl, operator):
    cluster.add_node("cpu-1")
    kubectl.apply(job("podcast"))
    status = finished(kube_api, "podcast")["status"]
    assert status["phase"] == "Succeeded" and status["device"] == "cpu"
    fallback = next(c for c in status["conditions"] if c["type"] == "GPUFallback")
    assert fallback["status"] == "True" and fallback["reason"] == "NoGPUNodes"


def test_an_unschedulable_gpu_pod_falls_back_to_cpu_after_the_wait(kube_api, cluster, kubectl, operator):
    cluster.add_node("gpu-elsewhere", gpus=1, taints=[GPU_TAINT])  # a GPU, but not in the GPU pool: unschedulable
    cluster.add_node("cpu-1")
    kubectl.apply(job("interview", fallback={"afterSeconds": 2}))
    status = finished(kube_api, "interview")["status"]
    assert status["phase"] == "Succeeded" and status["device"] == "cpu" and status["attempts"] == 2
    fallback = next(c for c in status["conditions"] if c["type"] == "GPUFallback")
    assert fallback["reason"] == "GPUUnschedulable" and "stayed unschedulable for 2 s" in fallback["message"]
    wait_until(
        kube_api,
        lambda: [j["metadata"]["name"] for j in worker_jobs(kube_api, "interview")] == ["interview-cpu-2"],
        what=f"only the CPU Job left (now {[j['metadata'] for j in worker_jobs(kube_api, 'interview')]})",
    )


def test_bad_input_fails_without_retry(kube_api, cluster, kubectl, operator):
    cluster.add_node("cpu-1")
    kubectl.apply(job("broken", device="cpu", source={"url": "https://media.example.org/bad.opus"}))
    status = finished(kube_api, "broken")["status"]
    assert status["phase"] == "Failed" and status["message"] == "the file is not audio"
    assert [j["metadata"]["name"] for j in worker_jobs(kube_api, "broken")] == ["broken-cpu-1"]


def test_deleting_a_transcription_job_removes_its_jobs_and_pods(kube_api, cluster, kubectl, operator):
    cluster.add_node("cpu-1")
    kubectl.apply(job("short", device="cpu"))
    finished(kube_api, "short")
    # dhg_controller_jobs, from this operator's census (counted just after the status write)
    wait_until(kube_api, lambda: jobs_gauge("Succeeded", "cpu") == 1, what="the census counts it")
    kubectl.run("delete", "tj", "short", "--wait=true", timeout=60)
    assert jobs_gauge("Succeeded", "cpu") == 0
    wait_until(kube_api, lambda: not worker_jobs(kube_api, "short"), what="the worker Job is collected")
    pods = kube_api.store.registry.get("", "pods")
    wait_until(kube_api, lambda: not kube_api.store.list(pods, "default")[0], what="the pods are collected")


def test_the_examples_apply_cleanly(kube_api, kubectl, operator):
    for path in sorted((ROOT / "examples").glob("*.yaml")):
        kubectl.apply(yaml.safe_load(path.read_text()))
    names = {item["metadata"]["name"] for item in kubectl.json("get", "tj")["items"]}
    assert len(names) == len(list((ROOT / "examples").glob("*.yaml")))


def test_job_records_follow_the_phase_in_the_registry_and_deletion_cancels(
    kube_api,
    cluster,
    kubectl,
    registry_env,
    operator,
):
    admin = registry_env
    cluster.add_node("cpu-1")
    kubectl.apply(job("lecture", device="cpu"))
    done = finished(kube_api, "lecture")
    url = f"/v1/jobs/{done['metadata']['uid']}"
    record = wait_until(
        kube_api, lambda: (r := admin.get(url).json()).get("phase") == "Succeeded" and r, what="recorded"
    )
    assert (record["phase"], record["device"], record["name"]) == ("Succeeded", "cpu", "default/lecture")
    assert record["source"] == {"url": "https://media.example.org/lecture.opus"} and record["attempts"] == 1
    assert record["transcript_id"] == "7d1f9c2e-0000-4000-8000-00000000000a"
    # One Registry write per phase change: a create carrying the first phase the operator saw, then an update
    # for each later one.
    audit = admin.get("/v1/audit", params={"entity_id": done["metadata"]["uid"], "after_seq": 0}).json()["items"]
    (create, *updates) = audit
    assert (create["action"], create["status_code"]) == ("job.create", 201) and updates
    assert all(u["action"] == "job.update" and "phase" in u["detail"]["changed"] for u in updates), audit
    assert updates[0]["detail"]["from_phase"] == "Scheduling"  # not Pending: the create said where it stood

    kubectl.apply(job("long-read", device="cpu", source={"url": "https://media.example.org/slow.opus"}))
    delete_while_running(kube_api, kubectl, admin, "long-read")
    wait_until(kube_api, lambda: not worker_jobs(kube_api, "long-read"), what="the worker Job is collected")


def test_device_gpu_on_a_cpu_only_cluster_waits_with_the_reason_and_no_cpu_pod(kube_api, cluster, kubectl, operator):
    cluster.add_node("cpu-1")
    kubectl.apply(job("gpu-only", device="gpu"))
    waiting = wait_for(
        kube_api,
        GROUP,
        PLURAL,
        "default",
        "gpu-only",
        lambda o: any(
            c["type"] == "Scheduled" and c["status"] == "False"
            for c in (o or {}).get("status", {}).get("conditions", [])
        ),
    )
    status = waiting["status"]
    assert status["phase"] == "Pending" and "0/1 nodes are available" in status["message"]
    scheduled = next(c for c in status["conditions"] if c["type"] == "Scheduled")
    assert scheduled["reason"] == "WaitingForGPU"
    assert [j["metadata"]["name"] for j in worker_jobs(kube_api, "gpu-only")] == ["gpu-only-gpu-1"]


def test_a_transient_failure_is_retried_and_then_succeeds(kube_api, cluster, kubectl, operator):
    cluster.add_node("cpu-1")
    kubectl.apply(job("retried", device="cpu", source={"url": "https://media.example.org/fails-once.opus"}))
    status = finished(kube_api, "retried", timeout=90)["status"]
    assert status["phase"] == "Succeeded" and status["attempts"] == 2 and status["failedAttempts"] == 1, status
    names = sorted(j["metadata"]["name"] for j in worker_jobs(kube_api, "retried"))
    assert names == ["retried-cpu-1", "retried-cpu-2"]


def test_a_controller_restarted_mid_job_starts_no_second_worker(kube_api, cluster, kubectl, operator_env):
    cluster.add_node("cpu-1")
    with KopfRunner(KOPF_RUN, timeout=60):
        kubectl.apply(job("survivor", device="cpu", source={"url": "https://media.example.org/five-seconds.opus"}))
        wait_for(
            kube_api,
            GROUP,
            PLURAL,
            "default",
            "survivor",
            lambda o: (o or {}).get("status", {}).get("phase") == "Running",
        )
    # the controller went away mid-job; a new one finishes it
    with KopfRunner(KOPF_RUN, timeout=60):
        status = finished(kube_api, "survivor")["status"]
    assert status["phase"] == "Succeeded" and status["attempts"] == 1
    assert [j["metadata"]["name"] for j in worker_jobs(kube_api, "survivor")] == ["survivor-cpu-1"]


def unschedulable_pod(api, job_name: str) -> dict | None:
    pods, _ = api.store.list(api.store.registry.get("", "pods"), "default")
    for pod in pods:
        conditions = (pod.get("status") or {}).get("conditions") or []
        waiting = any(c["type"] == "PodScheduled" and c.get("reason") == "Unschedulable" for c in conditions)
        if waiting and pod["metadata"]["labels"].get("job-name") == job_name:
            return pod
    return None


def triggered_scale_up(pod: dict) -> dict:
    """The Event cluster-autoscaler posts (client-go's core/v1 recorder) on a pod it adds a node for."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    meta = pod["metadata"]
    return {
        "metadata": {"name": f"{meta['name']}.{secrets.token_hex(8)}", "namespace": meta["namespace"]},
        "involvedObject": {"apiVersion": "v1", "kind": "Pod", "name": meta["name"], "namespace": meta["namespace"]}
        | {"uid": meta["uid"], "resourceVersion": meta["resourceVersion"]},
        "reason": "TriggeredScaleUp",
        "message": "pod triggered scale-up: [{gpu-pool 0->1 (max: 4)}]",
        "type": "Normal",
        "source": {"component": "cluster-autoscaler"},
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }


def test_a_scale_up_under_way_holds_the_fallback_and_the_new_node_takes_the_pod(
    kube_api, cluster, kubectl, kube_client, operator
):
    cluster.add_node("gpu-elsewhere", gpus=1, taints=[GPU_TAINT])  # a GPU, but not in the GPU pool: unschedulable
    cluster.add_node("cpu-1")
    kubectl.apply(job("awaited", fallback={"afterSeconds": 3}))
    pod = wait_until(kube_api, lambda: unschedulable_pod(kube_api, "awaited-gpu-1"), what="the GPU pod waits")
    k8s.CoreV1Api(kube_client).create_namespaced_event("default", triggered_scale_up(pod))
    held = wait_for(
        kube_api,
        GROUP,
        PLURAL,
        "default",
        "awaited",
        lambda o: any(c["reason"] == "ScaleUpUnderWay" for c in (o or {}).get("status", {}).get("conditions", [])),
    )
    assert "the cluster autoscaler is adding" in held["status"]["message"]
    (scheduled,) = [c for c in pod["status"]["conditions"] if c["type"] == "PodScheduled"]
    due = datetime.fromisoformat(scheduled["lastTransitionTime"]).timestamp() + 3  # when it would have fallen back
    time.sleep(max(0.0, due + 2 - time.time()))
    assert [j["metadata"]["name"] for j in worker_jobs(kube_api, "awaited")] == ["awaited-gpu-1"]
    assert kubectl.json("get", "tj", "awaited")["status"]["phase"] == "Pending"

    cluster.add_node("gpu-new", gpus=1, labels={"nvidia.com/gpu.present": "true"}, taints=[GPU_TAINT])  # it came
    status = finished(kube_api, "awaited")["status"]
    assert (status["phase"], status["device"], status["nodeName"], status["attempts"]) == (
        "Succeeded",
        "gpu",
        "gpu-new",
        1,
    )
    assert not any(c["type"] == "GPUFallback" for c in status["conditions"])
    # The Events came from a watch the API server filtered: the cluster's other Events never reach the operator.
    reads = [r for r in kube_api.requests if r.resource == "events" and r.verb in ("list", "watch")]
    assert reads and {r.field_selector for r in reads} == {"involvedObject.kind=Pod,reason=TriggeredScaleUp"}


def poll(check, what: str, timeout: float = 60):
    """`check()`'s first truthy result, asked every 0.2 s (for what the test API does not see change)."""
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.2)
    return result


def test_a_job_that_ends_while_the_registry_is_away_is_recorded_once_it_is_back(
    kube_api, cluster, kubectl, postgres, tmp_path, operator_env, monkeypatch
):
    """A finished job's daemon does not end while the Registry has not heard the end: it tries again, backing
    off, and the record reaches Succeeded once the Registry answers again (before, the record stayed Running)."""
    database_url = postgres.create_database(f"away_{secrets.token_hex(4)}")
    registry = start_registry(database_url, tmp_path / "media")
    port, admin_token = int(registry.url.rsplit(":", 1)[1]), registry.admin_token
    with registry.client(admin_token) as admin:
        monkeypatch.setenv("DHG_CONTROLLER_REGISTRY_URL", registry.url)
        monkeypatch.setenv("DHG_CONTROLLER_REGISTRY_TOKEN", make_token(admin, "write", name="controller"))
    get_settings.cache_clear()
    cluster.add_node("cpu-1")
    errors = REGISTRY.get_sample_value("dhg_controller_registry_errors_total") or 0.0
    try:
        with KopfRunner(KOPF_RUN, timeout=90) as runner:
            kubectl.apply(job("offline", device="cpu", source={"url": "https://media.example.org/five-seconds.opus"}))
            uid = kubectl.json("get", "tj", "offline")["metadata"]["uid"]
            with registry.client(admin_token) as admin:
                poll(lambda: admin.get(f"/v1/jobs/{uid}").json().get("phase") == "Running", "the job recorded Running")
            registry.stop()
            assert finished(kube_api, "offline", timeout=60)["status"]["phase"] == "Succeeded"
            poll(
                lambda: (REGISTRY.get_sample_value("dhg_controller_registry_errors_total") or 0.0) > errors,
                "a record the Registry could not take",
            )
            registry = start_registry(database_url, tmp_path / "media", port=port, admin_token=admin_token)
            with registry.client(admin_token) as admin:
                record = poll(
                    lambda: (r := admin.get(f"/v1/jobs/{uid}").json()).get("phase") == "Succeeded" and r,
                    "the end recorded once the Registry is back",
                    timeout=90,
                )
            assert record["transcript_id"] == "7d1f9c2e-0000-4000-8000-00000000000a"
        assert runner.exit_code == 0, runner.output
    finally:
        registry.stop()
        get_settings.cache_clear()
