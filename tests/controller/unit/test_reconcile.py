"""The whole reconcile loop, step by step, on observations shaped like the API server's objects (the pod
shapes follow tests/fixtures/k8s): placement, GPU → CPU fallback, success, retries, bad input."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from controller.manifests import WorkerConfig
from controller.model import TranscriptionJob
from controller.reconcile import JobView, Observed, PodView, reconcile

T0 = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)
CONFIG = WorkerConfig()
FIXTURES = Path(__file__).parents[2] / "fixtures" / "k8s"


def tj(status=None, **spec):
    document = {
        "apiVersion": "factory.dhg.ai/v1alpha1",
        "kind": "TranscriptionJob",
        "metadata": {
            "name": "talk",
            "namespace": "media",
            "uid": "0e6f3b2a-1111-4c2d-8e9f-0a1b2c3d4e5f",
            "generation": 1,
        },
        "spec": {"source": {"url": "https://example.org/talk.opus"}, **spec},
    }
    if status:
        document["status"] = status
    return TranscriptionJob.model_validate(document)


def pod(phase="Pending", *, node=None, unschedulable_at=None, exit_code=None, message=None, running=False):
    status = {"phase": phase, "conditions": []}
    if unschedulable_at is not None:
        status["conditions"].append(
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "lastTransitionTime": unschedulable_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "message": "0/3 nodes are available: 3 Insufficient nvidia.com/gpu.",
            }
        )
    state = {}
    if running:
        state = {"running": {"startedAt": "2026-11-25T07:00:05Z"}}
    if exit_code is not None:
        state = {"terminated": {"exitCode": exit_code, "reason": "Completed" if exit_code == 0 else "Error"}}
        if message is not None:
            state["terminated"]["message"] = message
    if state:
        status["containerStatuses"] = [{"name": "worker", "state": state}]
    return {
        "metadata": {"name": "talk-pod", "creationTimestamp": "2026-11-25T07:00:01Z"},
        "spec": {"nodeName": node},
        "status": status,
    }


def job_view(plan, pods=(), failed=None, failed_at=None):
    manifest = plan.create[-1]
    job = {**manifest, "status": {}}
    if failed:
        job["status"]["conditions"] = [{"type": "Failed", "status": "True", "reason": failed, "message": failed}]
        if failed_at is not None:
            job["status"]["conditions"][0]["lastTransitionTime"] = failed_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    return JobView.from_job(job, list(pods))


def step(job, views, now, gpu_nodes=2, **extra):
    return reconcile(Observed(job, views, gpu_nodes, now, **extra), CONFIG)


def apply(job, plan):
    return tj(status=plan.status, **job.spec.model_dump(by_alias=True, exclude_none=True, mode="json"))


def condition(plan, kind):
    return next((c for c in plan.status["conditions"] if c["type"] == kind), None)


def test_real_pod_shapes_are_read():
    pending = json.loads(
        (FIXTURES / "pod-Pending-PodScheduled-False-Unschedulable-openshift-NO-TYPEMETA.json").read_text()
    )
    view = PodView.from_pod(pending)
    assert view.phase == "Pending" and view.unschedulable_since == datetime(2021, 7, 7, 16, 14, 55, tzinfo=UTC)
    assert "0/2 nodes are available" in view.unschedulable_message
    failed = PodView.from_pod(json.loads((FIXTURES / "pod-Failed-job-pod-exitCode3-NO-TYPEMETA.json").read_text()))
    assert (failed.phase, failed.exit_code, failed.termination_reason) == ("Failed", 3, "Error")
    assert failed.started_at == datetime(2024, 4, 25, 0, 0, 3, tzinfo=UTC) and view.started_at is None


def test_auto_with_gpu_nodes_launches_a_gpu_worker_then_follows_it_to_success():
    job = tj()
    plan = step(job, [], T0)
    (manifest,) = plan.create
    assert manifest["metadata"]["name"] == "talk-gpu-1" and plan.status["device"] == "gpu"
    assert plan.status["phase"] == "Scheduling" and plan.status["attempts"] == 1
    job = apply(job, plan)
    again = step(job, [job_view(plan)], T0 + timedelta(seconds=1))
    assert again.create == [] and again.status["phase"] == "Scheduling"
    running = step(job, [job_view(plan, [pod("Running", node="gpu-1", running=True)])], T0 + timedelta(seconds=5))
    assert running.status["phase"] == "Running" and running.status["nodeName"] == "gpu-1"
    assert ("Normal", "Started") in [(kind, reason) for kind, reason, _ in running.events]
    job = apply(job, running)
    summary = json.dumps({"status": "Succeeded", "transcriptId": "t-9", "audioSeconds": 61.5, "realTimeFactor": 17.2})
    done = step(
        job, [job_view(plan, [pod("Succeeded", node="gpu-1", exit_code=0, message=summary)])], T0 + timedelta(seconds=9)
    )
    assert done.status["phase"] == "Succeeded" and done.status["transcriptId"] == "t-9"
    assert done.status["realTimeFactor"] == 17.2 and done.status["completionTime"] == "2026-11-25T07:00:09Z"
    assert done.requeue_after is None and condition(done, "Running")["status"] == "False"
    finished = apply(job, done)
    assert step(finished, [], T0 + timedelta(hours=1)).create == []  # terminal: nothing more, even without its Job


def test_auto_without_gpu_nodes_goes_straight_to_cpu_and_says_so():
    plan = step(tj(), [], T0, gpu_nodes=0)
    assert plan.create[0]["metadata"]["name"] == "talk-cpu-1" and plan.status["device"] == "cpu"
    fallback = condition(plan, "GPUFallback")
    assert fallback["status"] == "True" and fallback["reason"] == "NoGPUNodes"
    assert any(kind == "Warning" and reason == "GPUFallback" for kind, reason, _ in plan.events)


def test_an_unschedulable_gpu_pod_falls_back_after_the_wait_once():
    job = tj(fallback={"afterSeconds": 120})
    first = step(job, [], T0)
    job = apply(job, first)
    waiting = [job_view(first, [pod(unschedulable_at=T0 + timedelta(seconds=2))])]
    early = step(job, waiting, T0 + timedelta(seconds=52))
    assert early.create == [] and early.delete == [] and early.requeue_after == 30
    assert early.status["phase"] == "Pending" and condition(early, "Scheduled")["reason"] == "Unschedulable"
    late = step(apply(job, early), waiting, T0 + timedelta(seconds=122))
    assert late.delete == ["talk-gpu-1"] and late.create[0]["metadata"]["name"] == "talk-cpu-2"
    assert late.status["device"] == "cpu" and late.status["attempts"] == 2
    assert condition(late, "GPUFallback")["reason"] == "GPUUnschedulable"
    job = apply(job, late)
    on_cpu = step(job, [job_view(late, [pod(node="cpu-1")])], T0 + timedelta(seconds=130))
    assert on_cpu.create == [] and on_cpu.status["device"] == "cpu"
    assert condition(on_cpu, "GPUFallback")["lastTransitionTime"] == "2026-11-25T07:02:02Z"


def test_no_fallback_while_the_autoscaler_adds_a_node_nor_ever_for_device_gpu():
    later = T0 + timedelta(hours=2)
    scaling = {"scale_ups": {"talk-pod": later - timedelta(minutes=5)}}
    for job, extra in ((tj(), scaling), (tj(device="gpu"), {})):
        first = step(job, [], T0)
        job = apply(job, first)
        view = [job_view(first, [pod(unschedulable_at=T0)])]
        plan = step(job, view, later, **extra)
        assert plan.create == [] and plan.delete == [] and plan.status["phase"] == "Pending"
        assert "Insufficient nvidia.com/gpu" in plan.status["message"]
        if extra:
            assert condition(plan, "Scheduled")["reason"] == "ScaleUpUnderWay" and plan.requeue_after == 30
            assert plan.status["message"].startswith("waiting for the node the cluster autoscaler is adding: 0/3")
    assert condition(plan, "Scheduled")["reason"] == "WaitingForGPU"


def test_the_autoscalers_word_holds_for_its_provisioning_time_then_the_fallback_comes():
    job = tj(fallback={"afterSeconds": 60})
    first = step(job, [], T0)
    job = apply(job, first)
    view = [job_view(first, [pod(unschedulable_at=T0)])]
    said = {"scale_ups": {"talk-pod": T0 + timedelta(seconds=10)}}
    waiting = step(job, view, T0 + timedelta(seconds=899), **said)
    assert waiting.create == [] and waiting.requeue_after == 11  # until 900 s after the autoscaler spoke
    late = step(apply(job, waiting), view, T0 + timedelta(seconds=910), **said)
    assert [m["metadata"]["name"] for m in late.create] == ["talk-cpu-2"] and late.delete == ["talk-gpu-1"]
    other_pod = step(job, view, T0 + timedelta(seconds=61), scale_ups={"talk-gpu-0-abcde": T0})
    assert other_pod.create and condition(other_pod, "GPUFallback")["reason"] == "GPUUnschedulable"


def test_transient_failures_are_retried_after_a_backoff_then_give_up():
    job = tj(maxRetries=1)
    first = step(job, [], T0)
    job = apply(job, first)
    failed = [
        job_view(
            first,
            [pod("Failed", node="gpu-1", exit_code=75, message='{"status":"Failed","message":"registry down"}')],
            failed="BackoffLimitExceeded",
        )
    ]
    retry = step(job, failed, T0 + timedelta(seconds=10))
    assert retry.create == [] and retry.status["nextAttemptTime"] == "2026-11-25T07:00:20Z"
    assert retry.status["failedAttempts"] == 1 and retry.status["phase"] == "Pending" and retry.requeue_after == 10
    job = apply(job, retry)
    still = step(job, failed, T0 + timedelta(seconds=15))
    assert still.create == [] and still.status["failedAttempts"] == 1  # the failure is counted once
    second = step(job, failed, T0 + timedelta(seconds=21))
    assert second.create[0]["metadata"]["name"] == "talk-gpu-2" and "nextAttemptTime" not in second.status
    job = apply(job, second)
    failed_again = [
        job_view(
            second, [pod("Failed", node="gpu-1", exit_code=75, message="registry down")], failed="BackoffLimitExceeded"
        )
    ]
    final = step(job, failed_again, T0 + timedelta(seconds=40))
    assert final.status["phase"] == "Failed" and condition(final, "Failed")["reason"] == "RetriesExhausted"
    assert final.create == [] and final.requeue_after is None


def test_bad_input_fails_at_once_with_the_workers_message():
    job = tj(device="cpu")
    first = step(job, [], T0)
    job = apply(job, first)
    summary = '{"status":"Failed","reason":"BadInput","message":"the file could not be read as audio"}'
    plan = step(
        job,
        [job_view(first, [pod("Failed", node="cpu-1", exit_code=2, message=summary)], failed="BackoffLimitExceeded")],
        T0 + timedelta(seconds=3),
    )
    assert plan.status["phase"] == "Failed" and condition(plan, "Failed")["reason"] == "BadInput"
    assert plan.status["message"] == "the file could not be read as audio" and plan.create == []


def test_a_failed_job_waits_for_its_pods_exit_before_deciding():
    """The Job's watch can bring its Failed condition before the pod's watch brings the exit code: a bad input must
    not be read as an unknown failure and retried (seen under load), nor a transient one mislabelled."""
    job = tj(device="cpu")
    first = step(job, [], T0)
    job = apply(job, first)
    failed_at = T0 + timedelta(seconds=3)
    lagging = [job_view(first, [pod("Running", node="cpu-1", running=True)], "BackoffLimitExceeded", failed_at)]
    waiting = step(job, lagging, failed_at + timedelta(seconds=1))
    assert waiting.create == [] and waiting.events == [] and waiting.requeue_after == 1.0
    assert "failedAttempts" not in waiting.status and waiting.status["phase"] == job.status.phase
    summary = '{"status":"Failed","reason":"BadInput","message":"not audio"}'
    exited = [
        job_view(first, [pod("Failed", node="cpu-1", exit_code=2, message=summary)], "BackoffLimitExceeded", failed_at)
    ]
    final = step(job, exited, failed_at + timedelta(seconds=2))
    assert final.status["phase"] == "Failed" and condition(final, "Failed")["reason"] == "BadInput"
    # Never seen (the pod gone with its node): after the grace the decision goes ahead, as a retried failure.
    gone = [job_view(first, [], "BackoffLimitExceeded", failed_at)]
    assert step(job, gone, failed_at + timedelta(seconds=29)).events == []
    late = step(job, gone, failed_at + timedelta(seconds=31))
    assert late.status["failedAttempts"] == 1 and "nextAttemptTime" in late.status
    # A deadline is final whatever the exit: no wait.
    deadline = [job_view(first, [pod("Running", node="cpu-1", running=True)], "DeadlineExceeded", failed_at)]
    ended = step(job, deadline, failed_at + timedelta(seconds=1))
    assert condition(ended, "Failed")["reason"] == "DeadlineExceeded"


TRANSCRIPT = "7d1f9c2e-0000-4000-8000-00000000000a"


def succeed(config=CONFIG, message=f'{{"status": "Succeeded", "transcriptId": "{TRANSCRIPT}"}}', **spec):
    """A job launched on CPU whose worker then exits 0 with `message` as its termination message."""
    job = tj(device="cpu", **spec)
    first = reconcile(Observed(job, [], 0, T0), config)
    views = [job_view(first, [pod("Succeeded", node="cpu-1", exit_code=0, message=message)])]
    return reconcile(Observed(apply(job, first), views, 0, T0 + timedelta(seconds=9)), config)


def test_success_links_each_asked_rendering_in_the_registry():
    done = succeed(outputFormats=["srt", "text"])
    base = f"http://dhg-registry:8000/v1/transcripts/{TRANSCRIPT}"
    assert done.status["phase"] == "Succeeded"
    assert done.status["outputs"] == {"srt": f"{base}?format=srt", "text": f"{base}?format=text"}
    elsewhere = succeed(WorkerConfig(registry_url="https://registry.example.org/"))  # where the workers push to
    assert elsewhere.status["outputs"] == {
        "json": f"https://registry.example.org/v1/transcripts/{TRANSCRIPT}?format=json"
    }
    anonymous = succeed(message="done")  # no summary, so no transcript to link
    assert anonymous.status["phase"] == "Succeeded" and "outputs" not in anonymous.status


def test_device_gpu_without_gpu_nodes_launches_on_gpu_and_waits_never_on_cpu():
    plan = step(tj(device="gpu"), [], T0, gpu_nodes=0)
    assert [m["metadata"]["name"] for m in plan.create] == ["talk-gpu-1"] and plan.status["device"] == "gpu"
    assert condition(plan, "GPUFallback") is None


def test_a_vanished_job_is_recreated_under_the_same_name():
    job = tj(device="cpu")
    first = step(job, [], T0)
    job = apply(job, first)
    plan = step(job, [], T0 + timedelta(seconds=30))
    assert [m["metadata"]["name"] for m in plan.create] == ["talk-cpu-1"]


def test_a_worker_that_cannot_start_says_why():
    job = tj(device="cpu")
    first = step(job, [], T0)
    job = apply(job, first)
    stuck = pod(node="cpu-1")
    stuck["status"]["containerStatuses"] = [
        {
            "name": "worker",
            "state": {"waiting": {"reason": "CreateContainerConfigError", "message": 'secret "x" not found'}},
        }
    ]
    plan = step(job, [job_view(first, [stuck])], T0 + timedelta(seconds=5))
    assert plan.status["message"] == 'the worker cannot start: CreateContainerConfigError: secret "x" not found'
    assert plan.status["phase"] == "Scheduling"


def test_the_worker_writes_its_summary_where_the_kubelet_reads_it():
    manifest = step(tj(device="cpu"), [], T0).create[0]
    (container,) = manifest["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["DHG_ASR_TERMINATION_LOG"] == container["terminationMessagePath"] == "/dev/termination-log"
    assert container["command"] == ["python", "-m", "asr.worker"]


def test_the_worker_logs_the_job_as_the_controller_does():
    """`job` on the worker's lines is namespace/name, the value the controller's lines about the job carry."""
    manifest = step(tj(device="cpu"), [], T0).create[0]
    (container,) = manifest["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["DHG_ASR_JOB"] == "media/talk"


def test_a_model_the_workers_do_not_serve_fails_at_once_naming_those_they_do():
    plan = step(tj(model="large-v9"), [], T0)
    assert plan.create == [] and plan.status["phase"] == "Failed"
    failed = condition(plan, "Failed")
    assert failed["reason"] == "UnknownModel"
    assert "'large-v9'" in failed["message"] and "base, tiny.en" in failed["message"]
    assert "whisper-1" in failed["message"]
    assert [(kind, reason) for kind, reason, _ in plan.events] == [("Warning", "Failed")]


def test_an_english_only_model_is_refused_another_language_or_a_translation():
    for spec in ({"model": "tiny.en", "language": "de"}, {"model": "tiny.en", "task": "translate"}):
        plan = step(tj(**spec), [], T0)
        assert plan.create == [] and condition(plan, "Failed")["reason"] == "EnglishOnlyModel", spec
        assert "use base (multilingual)" in plan.status["message"]
    for spec in (
        {"model": "tiny.en", "language": "en"},
        {"language": "de", "task": "translate"},
        {"model": "whisper-1"},
    ):
        plan = step(tj(**spec), [], T0)
        assert len(plan.create) == 1 and plan.status["phase"] != "Failed", spec


def test_the_worker_gets_the_jobs_model_or_the_configured_default():
    named = step(tj(model="tiny.en"), [], T0).create[0]["spec"]["template"]["spec"]["containers"][0]
    unnamed = step(tj(), [], T0).create[0]["spec"]["template"]["spec"]["containers"][0]
    assert named["args"][named["args"].index("--model") + 1] == "tiny.en"
    assert "--model" not in unnamed["args"]
    env = {item["name"]: item.get("value") for item in unnamed["env"]}
    assert env["DHG_ASR_DEFAULT_MODEL"] == "base"
    assert json.loads(env["DHG_ASR_MODELS"]) == {"tiny.en": "bundled", "base": "bundled"}
    assert json.loads(env["DHG_ASR_MODEL_ALIASES"])["whisper-1"] == ""
    assert env["DHG_ASR_BATCH_SIZE"] == "8"  # by default, a long file's windows are batched together
    sequential = reconcile(Observed(tj(), [], 2, T0), WorkerConfig(batch_size=1)).create[0]
    (container,) = sequential["spec"]["template"]["spec"]["containers"]
    assert {"name": "DHG_ASR_BATCH_SIZE", "value": "1"} in container["env"]


def test_what_the_index_keeps_of_a_real_pod_or_job_reads_as_the_whole_does():
    pods = [
        json.loads((FIXTURES / name).read_text())
        for name in (
            "pod-Pending-PodScheduled-False-Unschedulable-openshift-NO-TYPEMETA.json",
            "pod-Failed-job-pod-exitCode3-NO-TYPEMETA.json",
            "pod-Running-lastState-terminated-with-termination-message-NO-TYPEMETA.json",
        )
    ]
    for whole in pods:
        kept = PodView.essentials(whole)
        assert PodView.from_pod(kept) == PodView.from_pod(whole)
        assert len(json.dumps(kept)) < len(json.dumps(whole)) / 3
    job = json.loads((FIXTURES / "job-Complete-2019-kubectl-json.json").read_text())
    job["metadata"]["labels"] |= {"factory.dhg.ai/placement": "gpu", "factory.dhg.ai/attempt": "2"}
    job["metadata"]["deletionTimestamp"] = "2026-12-08T00:00:00Z"
    failed = {"type": "Failed", "status": "True", "reason": "DeadlineExceeded", "message": "too long"}
    job["status"]["conditions"] = [
        *job["status"].get("conditions", []),
        failed | {"lastTransitionTime": "2026-12-07T23:00:00Z"},
    ]
    kept = JobView.essentials(job)
    assert JobView.from_job(kept, [PodView.essentials(pods[1])]) == JobView.from_job(job, [pods[1]])
    assert JobView.from_job(kept, []).failed_reason == "DeadlineExceeded" and JobView.from_job(kept, []).deleting
    assert len(json.dumps(kept)) < len(json.dumps(job)) / 3
