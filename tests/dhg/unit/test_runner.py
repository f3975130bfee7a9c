"""The local runner's translation of a worker Job into a process, without a database: the container's arguments
and environment with pod paths mapped onto this machine, the interpreter left as it is, and a worker that cannot
start seen as a failed pod (exit 128), never retried forever without a word."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from controller.manifests import build_job
from controller.model import TranscriptionJob
from dhg.jobs.runner import CANNOT_RUN, Attempt, LocalRunner

NOW = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)
BODY = {
    "apiVersion": "factory.dhg.ai/v1alpha1",
    "kind": "TranscriptionJob",
    "metadata": {"name": "talk", "namespace": "default", "uid": "6d5b2a1e-0000-4000-8000-000000000001"},
    "spec": {"source": {"path": "/data/talks/a.opus"}, "device": "cpu"},
}


def runner(tmp_path: Path) -> LocalRunner:
    return LocalRunner(
        store=None,  # type: ignore[arg-type]  # not used by _attempt
        registry_url="http://127.0.0.1:8000",
        token="secret-token",
        jobs_dir=tmp_path / "jobs",
        data_root=tmp_path / "audio",
        environment={"PATH": "/usr/bin", "DHG_REGISTRY_URL": "elsewhere"},
    )


def test_the_job_container_becomes_the_worker_process_with_paths_mapped(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(sys, "executable", "/tmp/checkout/.venv/bin/python")  # a checkout under /tmp, as CI's
    local = runner(tmp_path)
    manifest = build_job(TranscriptionJob.model_validate(BODY), "cpu", 1, local.config)
    attempt = local._attempt(BODY, manifest, NOW)
    assert attempt.argv[:3] == ["/tmp/checkout/.venv/bin/python", "-m", "asr.worker"]  # not mapped into scratch
    assert attempt.argv[attempt.argv.index("--path") + 1] == str(tmp_path / "audio" / "talks" / "a.opus")
    assert attempt.argv[attempt.argv.index("--job-id") + 1] == BODY["metadata"]["uid"]
    folder = tmp_path / "jobs" / "default" / "talk" / "talk-cpu-1"
    assert attempt.env["DHG_ASR_TERMINATION_LOG"] == str(folder / "termination-log")
    assert attempt.env["DHG_ASR_OUTBOX_DIR"] == str(folder / "scratch" / "outbox")
    assert attempt.env["DHG_ASR_REGISTRY_TOKEN"] == "secret-token"  # the Secret's value here
    assert attempt.env["DHG_ASR_REGISTRY_URL"] == "http://127.0.0.1:8000"
    assert json.loads(attempt.env["DHG_ASR_WORKER_ALLOWED_ROOTS"]) == [str(tmp_path / "audio")]
    assert "DHG_REGISTRY_URL" not in attempt.env and attempt.env["PATH"] == "/usr/bin"


def test_a_worker_that_cannot_start_is_a_failed_pod_with_the_reason(tmp_path) -> None:
    attempt = Attempt("talk-cpu-1", "cpu", 1, ["/nowhere/python"], {}, tmp_path / "attempt", 3600, NOW)
    assert attempt.view(has_gpu=False).pod.phase == "Pending"
    attempt.start(NOW)
    view = attempt.view(has_gpu=False)
    assert view.pod is not None and (view.pod.phase, view.pod.exit_code) == ("Failed", CANNOT_RUN)
    assert view.failed_reason == "BackoffLimitExceeded" and view.failed_at == NOW
    assert "the worker cannot start" in (view.pod.termination_message or "")


def test_a_gpu_worker_without_a_gpu_is_unschedulable_as_on_a_cluster(tmp_path) -> None:
    attempt = Attempt("talk-gpu-1", "gpu", 1, ["python"], {}, tmp_path, 3600, NOW)
    pod = attempt.view(has_gpu=False).pod
    assert pod is not None and pod.unschedulable_since == NOW and "nvidia.com/gpu" in pod.unschedulable_message
    assert attempt.view(has_gpu=True).pod.unschedulable_since is None
