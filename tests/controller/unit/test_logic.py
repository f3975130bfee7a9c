"""The operator's pure logic: conditions, phase, placement and fallback, retries, the worker's Job manifest."""

from datetime import UTC, datetime, timedelta

import pytest
import yaml

from controller import conditions, manifests, policy
from controller.conditions import Change
from controller.model import Diarization, TranscriptionJob
from dhg_core.worker import WorkerSummary
from tests.controller.schema import EXAMPLES

T0, T1 = "2026-11-25T07:00:00Z", "2026-11-25T07:05:00Z"


def example(name: str, uid: str = "5b0c3f4e-7d2a-4f3b-9c1d-0e2f4a6b8c9d") -> TranscriptionJob:
    document = yaml.safe_load(next(p for p in EXAMPLES if p.name == name).read_text())
    document["metadata"] |= {"namespace": "media", "uid": uid}
    return TranscriptionJob.model_validate(document)


def test_last_transition_time_moves_only_when_a_condition_flips():
    first = conditions.reduce([], [Change("Scheduled", "False", "Unschedulable", "0/3 nodes")], now=T0, generation=1)
    again = conditions.reduce(first, [Change("Scheduled", "False", "Unschedulable", "0/4 nodes")], now=T1, generation=1)
    assert again[0]["lastTransitionTime"] == T0 and again[0]["message"] == "0/4 nodes"
    flipped = conditions.reduce(again, [Change("Scheduled", "True", "Scheduled", "on gpu-1")], now=T1, generation=1)
    assert flipped[0]["lastTransitionTime"] == T1 and flipped[0]["status"] == "True"


def test_the_list_is_whole_ordered_and_carries_the_generation():
    result = conditions.reduce(
        [{"type": "Running", "status": "True", "reason": "Started", "message": "", "lastTransitionTime": T0}],
        [Change("Succeeded", "True", "Completed"), Change("Scheduled", "True", "Scheduled")],
        now=T1,
        generation=3,
    )
    assert [c["type"] for c in result] == ["Scheduled", "Running", "Succeeded"]
    assert result[0]["observedGeneration"] == 3 and "observedGeneration" not in result[1]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ([], "Pending"),
        ([Change("Scheduled", "False", "Unschedulable")], "Pending"),
        ([Change("Scheduled", "True", "Scheduled")], "Scheduling"),
        ([Change("Scheduled", "True", "Scheduled"), Change("Running", "True", "Started")], "Running"),
        ([Change("Running", "False", "Exited"), Change("Succeeded", "True", "Completed")], "Succeeded"),
        ([Change("Failed", "True", "BadInput"), Change("Succeeded", "False", "Failed")], "Failed"),
        ([Change("Cancelled", "True", "Deleted"), Change("Running", "True", "Started")], "Cancelled"),
    ],
)
def test_phase_is_derived_from_conditions(changes, expected):
    assert conditions.phase(conditions.reduce([], changes, now=T0, generation=None)) == expected


def test_placement_follows_the_device_and_the_gpu_nodes():
    assert policy.first_placement("cpu", 4).placement == "cpu"
    assert policy.first_placement("auto", 2).placement == "gpu"
    assert (policy.first_placement("auto", 0).placement, policy.first_placement("auto", 0).reason) == (
        "cpu",
        "NoGPUNodes",
    )
    assert policy.first_placement("auto", 2, fell_back=True).placement == "cpu"
    never = policy.first_placement("gpu", 0)
    assert never.placement == "gpu" and "never CPU" in never.message


def test_fallback_after_the_wait_only_for_auto_and_not_while_scaling_up():
    since = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)
    early = policy.check_fallback("auto", "gpu", since, since + timedelta(seconds=50), 120)
    assert not early.fall_back and early.wait_seconds == pytest.approx(70)
    assert policy.check_fallback("auto", "gpu", since, since + timedelta(seconds=120), 120).fall_back
    assert not policy.check_fallback("gpu", "gpu", since, since + timedelta(hours=5), 120).fall_back
    scaling = policy.check_fallback("auto", "gpu", since, since + timedelta(minutes=20), 120, scale_up_at=since)
    assert scaling.fall_back  # the autoscaler spoke 20 minutes ago: no node came, none is coming
    said = since + timedelta(minutes=10)
    scaling = policy.check_fallback("auto", "gpu", since, since + timedelta(minutes=20), 120, scale_up_at=said)
    assert not scaling.fall_back and scaling.reason == "ScaleUpUnderWay" and scaling.wait_seconds == 300
    assert not policy.check_fallback("cpu", "cpu", since, since + timedelta(hours=1), 120, scale_up_at=said).fall_back
    assert not policy.check_fallback("auto", "gpu", None, since, 120).fall_back


def test_retries_only_transient_failures_with_backoff_up_to_max_retries():
    first = policy.after_failure(75, attempts=1, max_retries=2, message="registry down")
    second = policy.after_failure(75, attempts=2, max_retries=2, message="registry down")
    assert (first.verdict, first.delay_seconds, second.delay_seconds) == ("retry", 10.0, 20.0)
    exhausted = policy.after_failure(75, attempts=3, max_retries=2, message="registry down")
    assert exhausted.verdict == "fail" and exhausted.reason == "RetriesExhausted"
    assert policy.after_failure(2, attempts=1, max_retries=5, message="not audio").reason == "BadInput"
    assert policy.after_failure(137, attempts=1, max_retries=1, message="").reason == "OOMKilled"
    assert policy.after_failure(None, 1, 3, "", reason="DeadlineExceeded").verdict == "fail"
    assert policy.after_failure(75, attempts=9, max_retries=10, message="").delay_seconds == 300.0


def test_the_termination_message_summary_is_read_even_after_log_lines():
    line = '{"status":"Succeeded","transcriptId":"t-1","audioSeconds":61.2,"realTimeFactor":15.3}'
    assert WorkerSummary.parse(line).transcript_id == "t-1"
    assert WorkerSummary.parse("Traceback...\nboom\n" + line + "\n").real_time_factor == 15.3
    assert WorkerSummary.parse("Traceback (most recent call last):\n  KeyError") is None
    assert WorkerSummary.parse('{"status": "Exploded"}') is None
    assert WorkerSummary.parse("") is None


def test_the_gpu_job_asks_for_a_gpu_tolerates_the_taint_and_is_locked_down():
    job = example("gpu.yaml")
    manifest = manifests.build_job(job, "gpu", 1, manifests.WorkerConfig())
    pod = manifest["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert manifest["metadata"]["name"] == "board-meeting-gpu-gpu-1"
    assert manifest["spec"]["backoffLimit"] == 0 and manifest["spec"]["activeDeadlineSeconds"] == 3600
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    assert pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["seccompProfile"] == {
        "type": "RuntimeDefault"
    }
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert pod["automountServiceAccountToken"] is False and "serviceAccountName" not in pod  # the default account
    assert container["args"][-2:] == ["--device", "gpu"]  # device gpu: the worker must not degrade to CPU
    assert argument(container, "--asset-id") == "3f1c2a9e-8b7d-4c5e-9f10-2a3b4c5d6e7f"
    (owner,) = manifest["metadata"]["ownerReferences"]
    assert owner == {
        "apiVersion": "factory.dhg.ai/v1alpha1",
        "kind": "TranscriptionJob",
        "name": "board-meeting-gpu",
        "uid": job.metadata.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def argument(container, flag):
    """The value that follows `flag` in the worker's arguments."""
    return container["args"][container["args"].index(flag) + 1]


def test_the_cpu_job_has_no_gpu_and_applies_resource_overrides_and_the_data_volume():
    job = example("cpu.yaml")
    config = manifests.WorkerConfig(cpu_node_selector={"pool": "cpu"}, data_claim="media", service_account="asr")
    manifest = manifests.build_job(job, "cpu", 2, config)
    pod = manifest["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert "nvidia.com/gpu" not in container["resources"]["limits"] and "tolerations" not in pod
    assert container["resources"] == {"requests": {"cpu": "2", "memory": "2Gi"}, "limits": {"memory": "3Gi"}}
    assert pod["nodeSelector"] == {"pool": "cpu"} and container["image"] == config.image
    assert {"name": "data", "mountPath": "/data", "readOnly": True} in container["volumeMounts"]
    assert argument(container, "--path") == "/data/podcasts/episode-042.mp3"
    assert container["args"][-2:] == ["--device", "cpu"]
    assert manifest["metadata"]["labels"]["factory.dhg.ai/attempt"] == "2"
    assert pod["serviceAccountName"] == "asr"


def test_diarization_reaches_the_worker_s_arguments():
    job = example("cpu.yaml")
    assert "--speakers" not in manifests.worker_args(job, "cpu")
    spec = job.spec.model_copy(update={"diarization": Diarization(enabled=True, min_speakers=2, max_speakers=4)})
    args = manifests.worker_args(job.model_copy(update={"spec": spec}), "cpu")
    assert args[args.index("--speakers") :][:5] == ["--speakers", "--min-speakers", "2", "--max-speakers", "4"]


def test_auto_on_a_gpu_node_lets_the_worker_degrade_and_long_names_fit():
    job = example("auto-fallback.yaml")
    assert manifests.worker_args(job, "gpu")[-2:] == ["--device", "auto"]
    long = manifests.job_name("x" * 80, "gpu", 12)
    assert len(long) <= 63 and long.endswith("-gpu-12")
    assert long != manifests.job_name("x" * 81, "gpu", 12)
