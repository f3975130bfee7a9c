"""The whole path with nothing stubbed but the cluster: real kubectl applies an example TranscriptionJob, real Kopf
runs the operator, the simulated kubelet runs the real `python -m asr.worker`, which fetches the audio (a Registry
asset, or a URL on a local media server), transcribes it with the bundled Whisper model and pushes the transcript
to the real Registry; the status carries its id. Also with the real worker: CPU fallback, a transient source
failure retried, bad input failed at once, and deletion while it transcribes. The kubelet runs the worker on this
machine (no CUDA), so on the "GPU node" its `--device auto` degrades to CPU by itself, as on a node whose driver
is missing. (tests/controller/integration/test_operator.py covers the rest with a stand-in worker.)"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from asr.evaluation import word_error_rate
from dhg.sample import REFERENCE_TEXT, SAMPLE_PATH
from kubesim import GPU_TAINT
from kubesim.waiting import wait_until
from tests.controller.integration.support import (  # noqa: F401 (fixtures: the real worker and the media server)
    ROOT,
    delete_while_running,
    finished,
    media_server,
    real_worker_command,
    real_worker_token,
    worker_jobs,
)


@pytest.fixture
def sample_asset(admin) -> str:
    """The bundled sample, uploaded to the Registry (de-duplicated by sha256: the same id in every test)."""
    with SAMPLE_PATH.open("rb") as audio:
        response = admin.post("/v1/assets", files={"file": (SAMPLE_PATH.name, audio, "audio/ogg")})
    assert response.status_code in {200, 201}, response.text
    return response.json()["id"]


def example(name: str, tmp_path: Path, **source: str) -> tuple[str, Path]:
    """An example manifest with its source pointed at what this test has; (its name, the file to apply)."""
    manifest = yaml.safe_load((ROOT / "examples" / name).read_text())
    manifest["spec"]["source"] = source
    path = tmp_path / name
    path.write_text(yaml.safe_dump(manifest))
    return manifest["metadata"]["name"], path


def test_an_asset_is_transcribed_on_the_gpu_node_into_the_registry(
    kube_api, cluster, kubectl, registry, registry_env, operator, sample_asset, tmp_path
):
    admin = registry_env
    cluster.add_node("gpu-1", gpus=1, labels={"nvidia.com/gpu.present": "true"}, taints=[GPU_TAINT])
    cluster.add_node("cpu-1")
    name, manifest = example("asset-source.yaml", tmp_path, assetId=sample_asset)
    kubectl.run("apply", "-f", str(manifest))
    waited = kubectl.run("wait", "--for=condition=Succeeded", f"tj/{name}", "--timeout=240s", timeout=250)
    assert "condition met" in waited.stdout

    done = kubectl.json("get", "tj", name)
    status, uid = done["status"], done["metadata"]["uid"]
    placed = (status["phase"], status["device"], status["nodeName"], status["attempts"])
    assert placed == ("Succeeded", "gpu", "gpu-1", 1)
    (worker,) = worker_jobs(kube_api, name)
    assert worker["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"

    transcript = admin.get(f"/v1/transcripts/{status['transcriptId']}").json()
    assert transcript["job_id"] == uid and transcript["asset_id"] == sample_asset
    (link,) = status["outputs"].values()  # outputFormats' default, json: served where the worker pushed it
    assert link == f"{registry.url.rstrip('/')}/v1/transcripts/{status['transcriptId']}?format=json"
    assert admin.get(link).json() == transcript
    assert word_error_rate(REFERENCE_TEXT, transcript["text"]) < 0.2, transcript["text"]
    assert status["audioSeconds"] == pytest.approx(transcript["segments"][-1]["end"], abs=3.0)
    assert status["realTimeFactor"] > 1

    # recorded just after the status write
    record = wait_until(
        kube_api, lambda: (r := admin.get(f"/v1/jobs/{uid}").json()).get("phase") == "Succeeded" and r, what="recorded"
    )
    assert record["transcript_id"] == status["transcriptId"]


def test_auto_on_a_cpu_only_cluster_falls_back_at_once_and_transcribes(
    kube_api, cluster, kubectl, registry_env, operator, sample_asset, tmp_path
):
    admin = registry_env
    cluster.add_node("cpu-1")
    name, manifest = example("auto-fallback.yaml", tmp_path, assetId=sample_asset)
    kubectl.run("apply", "-f", str(manifest))
    kubectl.run("wait", "--for=condition=Succeeded", f"tj/{name}", "--timeout=240s", timeout=250)
    status = kubectl.json("get", "tj", name)["status"]
    assert (status["device"], status["nodeName"], status["attempts"]) == ("cpu", "cpu-1", 1)
    fallback = next(c for c in status["conditions"] if c["type"] == "GPUFallback")
    assert (fallback["status"], fallback["reason"]) == ("True", "NoGPUNodes")
    transcript = admin.get(f"/v1/transcripts/{status['transcriptId']}").json()
    assert word_error_rate(REFERENCE_TEXT, transcript["text"]) < 0.2, transcript["text"]


def test_a_source_that_fails_transiently_is_retried_and_the_retry_transcribes(
    kube_api, cluster, kubectl, registry_env, operator, media, tmp_path
):
    admin, (base, hits) = registry_env, media
    cluster.add_node("cpu-1")
    name, manifest = example("url-source.yaml", tmp_path, url=f"{base}/flaky/lecture.opus")
    kubectl.run("apply", "-f", str(manifest))
    status = finished(kube_api, name, timeout=240)["status"]
    assert (status["phase"], status["attempts"], status["failedAttempts"]) == ("Succeeded", 2, 1), status
    assert hits["/flaky/lecture.opus"] == 2  # the worker's exit 75 (503 from the source), then the retry
    assert [j["metadata"]["name"] for j in worker_jobs(kube_api, name)] == [f"{name}-cpu-1", f"{name}-cpu-2"]
    transcript = admin.get(f"/v1/transcripts/{status['transcriptId']}").json()
    assert word_error_rate(REFERENCE_TEXT, transcript["text"]) < 0.2, transcript["text"]


def test_deleting_a_job_while_the_worker_transcribes_stops_it_and_cancels_the_record(
    kube_api, cluster, kubectl, registry_env, operator, media, tmp_path
):
    admin, (base, _) = registry_env, media
    cluster.add_node("cpu-1")
    name, manifest = example("url-source.yaml", tmp_path, url=f"{base}/long/seminar.opus")
    kubectl.run("apply", "-f", str(manifest))
    uid = delete_while_running(kube_api, kubectl, admin, name)
    wait_until(kube_api, lambda: not worker_jobs(kube_api, name), what="the worker Job is collected")
    pods = kube_api.store.registry.get("", "pods")
    wait_until(kube_api, lambda: not kube_api.store.list(pods, "default")[0], what="the worker pod is gone")
    assert admin.get("/v1/transcripts", params={"job_id": uid}).json()["items"] == []  # stopped before delivering


def test_a_missing_asset_fails_at_once_without_a_retry(kube_api, cluster, kubectl, registry_env, operator, tmp_path):
    cluster.add_node("cpu-1")
    name, manifest = example("cpu.yaml", tmp_path, assetId="00000000-0000-4000-8000-000000000404")
    kubectl.run("apply", "-f", str(manifest))
    status = finished(kube_api, name, timeout=120)["status"]
    assert status["phase"] == "Failed" and status["attempts"] == 1, status
    assert "00000000-0000-4000-8000-000000000404" in status["message"], status["message"]
    assert [j["metadata"]["name"] for j in worker_jobs(kube_api, name)] == [f"{name}-cpu-1"]
