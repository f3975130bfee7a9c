"""The local runner's translation of a worker Job into a process, without a database: the container's arguments
and environment with pod paths mapped onto this machine, the interpreter left as it is, and a worker that cannot
start seen as a failed pod (exit 128), never retried forever without a word."""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from controller.manifests import build_job
from controller.model import TranscriptionJob
from dhg.jobs.attempts import CANNOT_RUN, Attempt, WarmWorker
from dhg.jobs.runner import LocalRunner

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


PROBE = """
import json, os, sys
from pathlib import Path

Path(os.environ["PROBE_MARK"]).write_text(str(os.getpid()))  # the import happened, in this process

if __name__ == "__main__":
    print(json.dumps({
        "argv": sys.argv[1:],
        "file": sys.argv[0],
        "env": {key: os.environ.get(key) for key in ("ONLY_AHEAD", "ONLY_JOB", "PROBE_MARK")},
        "stdin": sys.stdin.read(),
    }))
    print("to stderr", file=sys.stderr)
    sys.exit(int(os.environ["PROBE_EXIT"]))
"""


def probe_module(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "probe_worker.py").write_text(PROBE)
    return {"PYTHONPATH": str(tmp_path), "PROBE_MARK": str(tmp_path / "imported"), "PATH": "/usr/bin:/bin"}


def wait_for(path: Path) -> None:
    deadline = time.monotonic() + 30
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def test_a_warm_worker_becomes_the_containers_process_with_its_arguments_environment_and_output(tmp_path) -> None:
    env = probe_module(tmp_path)
    command = [sys.executable, "-m", "probe_worker"]
    warm = WarmWorker.launch(command, {**env, "ONLY_AHEAD": "1"}, tmp_path / "warm.log")
    assert warm is not None
    wait_for(tmp_path / "imported")  # imported ahead, while no job waits
    pid = warm.process.pid
    job_env = {**env, "ONLY_JOB": "yes", "PROBE_EXIT": "75"}
    attempt = Attempt("talk-cpu-1", "cpu", 1, [*command, "--job-id", "x", "--path", "/a b"], job_env, tmp_path, 60, NOW)
    attempt.start(NOW, warm)
    assert attempt.process is warm.process and attempt.process.pid == pid
    assert attempt.process.wait(timeout=30) == 75  # the worker's exit code is the process's
    attempt.poll(NOW)
    assert attempt.view(has_gpu=False).pod.exit_code == 75
    lines = attempt.output_log.read_text().splitlines()
    assert "to stderr" in lines  # stderr too goes to the attempt's output
    ran = json.loads(next(line for line in lines if line.startswith("{")))
    assert ran["argv"] == ["--job-id", "x", "--path", "/a b"] and ran["file"].endswith("probe_worker.py")
    assert ran["env"] == {"ONLY_AHEAD": None, "ONLY_JOB": "yes", "PROBE_MARK": env["PROBE_MARK"]}  # exactly the job's
    assert ran["stdin"] == ""  # not the runner's pipe
    assert (tmp_path / "imported").read_text() == str(pid)  # imported once: runpy reran the cached module's code


def test_a_warm_worker_is_not_used_for_another_command_nor_once_it_ended(tmp_path) -> None:
    env = probe_module(tmp_path)
    warm = WarmWorker.launch([sys.executable, "-m", "probe_worker"], env, tmp_path / "warm.log")
    assert warm is not None
    other = [sys.executable, "-c", "import sys; sys.exit(3)"]
    attempt = Attempt("talk-cpu-1", "cpu", 1, other, env, tmp_path / "a", 60, NOW)
    attempt.start(NOW, warm)
    assert attempt.process is not warm.process and attempt.process.wait(timeout=30) == 3
    warm.stop()
    assert warm.process.poll() is not None
    again = Attempt("talk-cpu-2", "cpu", 2, [sys.executable, "-m", "probe_worker"], {**env, "PROBE_EXIT": "0"},
                    tmp_path / "b", 60, NOW)  # fmt: skip
    again.start(NOW, warm)
    assert again.process is not warm.process and again.process.wait(timeout=30) == 0
    assert WarmWorker.launch([sys.executable, "script.py"], env, tmp_path / "warm.log") is None  # not `python -m`


def test_the_runner_keeps_one_warm_worker_and_only_while_a_slot_is_free(tmp_path) -> None:
    local = runner(tmp_path)
    local.environment = {**local.environment, "DHG_ASR_MODELS": "ignored"}
    local.parallel = 1
    local._schedule(NOW)
    spare = local._spare
    assert spare is not None and spare.process.poll() is None
    assert "DHG_ASR_MODELS" not in json.dumps(spare.process.args)
    argv = [*local.config.command, "--help"]  # the worker's own entry point, from the warm interpreter
    attempt = Attempt("talk-cpu-1", "cpu", 1, argv, local._base_environment(), tmp_path / "a", 60, NOW)
    local.attempts["uid"] = {attempt.name: attempt}
    local._schedule(NOW)
    assert attempt.process is spare.process and local._spare is None  # taken, and no second one while it works
    assert attempt.process.wait(timeout=60) == 0 and "--job-id" in attempt.output_log.read_text()
    attempt.poll(NOW)
    local._schedule(NOW)  # the slot is free again: the next one starts
    assert local._spare is not None and local._spare is not spare
    following = local._spare
    local.stop()
    assert following.process.poll() is not None and local._spare is None
