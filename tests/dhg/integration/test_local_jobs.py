"""TranscriptionJobs run by `dhg up` (the local runner): the operator's reconcile over real workers on real audio,
with the Registry's records as on a cluster. Sources: the bundled sample as a path under the data root, and URLs
served by a loopback media server that can fail once or stall."""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from asr.evaluation import word_error_rate
from dhg.datadir import read_state
from dhg.jobs.store import JobStore, connection_url
from dhg.sample import REFERENCE_TEXT, SAMPLE_PATH
from tests.dhg.integration.conftest import ServingStack, serve
from tests.dhg.runner import MAX_WORD_ERROR_RATE, assert_one_line_error, run_dhg

SAMPLE = SAMPLE_PATH.read_bytes()
EXAMPLES_DIR = Path(__file__).resolve().parents[3] / "examples"


class MediaServer:
    """/sample.opus; /flaky-N.opus answers 503 the first time; /stall-N.opus waits until `release()`."""

    def __init__(self) -> None:
        self.seen: dict[str, int] = {}
        self.released = threading.Event()
        media = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                media.seen[self.path] = media.seen.get(self.path, 0) + 1
                if self.path.startswith("/flaky") and media.seen[self.path] == 1:
                    self.send_response(503)
                    self.end_headers()
                    return
                if self.path.startswith("/stall"):
                    media.released.wait(timeout=120)
                self.send_response(200)
                self.send_header("Content-Type", "audio/ogg")
                self.send_header("Content-Length", str(len(SAMPLE)))
                self.end_headers()
                self.wfile.write(SAMPLE)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/{name}"


@pytest.fixture(scope="module")
def media() -> Iterator[MediaServer]:
    server = MediaServer()
    yield server
    server.released.set()
    server.server.shutdown()


def start_stack(data_dir: Path, output: Path, data_root: Path = SAMPLE_PATH.parent) -> ServingStack:
    return serve(data_dir, output, DHG_DATA_ROOT=str(data_root), DHG_PARALLEL="2")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServingStack]:
    """`dhg up` whose data root holds the sample where the examples look (/data/podcasts/..., /data/meetings/...)."""
    work = tmp_path_factory.mktemp("local-jobs")
    root = work / "audio"
    for folder in ("podcasts", "meetings"):
        (root / folder).mkdir(parents=True)
    (root / SAMPLE_PATH.name).write_bytes(SAMPLE)
    (root / "podcasts" / "episode-042.mp3").write_bytes(SAMPLE)  # ffmpeg reads it by its content
    (root / "meetings" / "weekly.wav").write_bytes(SAMPLE)
    running = start_stack(work / "data", work / "dhg-up.out", root)
    yield running
    running.stop()


def store_of(stack: ServingStack) -> JobStore:
    state = read_state(stack.data_dir)
    assert state is not None
    return JobStore(connection_url(state.postgres_port))


def apply(stack: ServingStack, tmp_path: Path, name: str, **spec: Any) -> str:
    """`dhg apply` of one TranscriptionJob; returns its uid."""
    body = {"apiVersion": "factory.dhg.ai/v1alpha1", "kind": "TranscriptionJob", "metadata": {"name": name}}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({**body, "spec": spec}))
    result = run_dhg("apply", "-f", path, "--data-dir", stack.data_dir.root)
    assert result.returncode == 0, result.stderr
    found = store_of(stack).get("default", name)
    assert found is not None
    return str(found["metadata"]["uid"])


def wait_for(stack: ServingStack, name: str, check: Callable[[dict[str, Any]], bool], timeout: float = 120) -> dict:
    store, deadline = store_of(stack), time.monotonic() + timeout
    while True:
        found = store.get("default", name)
        status = (found or {}).get("status") or {}
        if found is not None and check(status):
            return found
        assert time.monotonic() < deadline, f"{name}: not within {timeout} s: {status}"
        time.sleep(0.3)


def phase_is(*phases: str) -> Callable[[dict[str, Any]], bool]:
    return lambda status: status.get("phase") in phases


def condition(status: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == kind)


def registry(stack: ServingStack) -> httpx.Client:
    return httpx.Client(base_url=stack.url, headers={"Authorization": f"Bearer {stack.admin_token}"}, timeout=30)


def test_a_path_source_falls_back_to_cpu_and_its_transcript_is_in_the_registry(stack, tmp_path) -> None:
    uid = apply(stack, tmp_path, "sample", source={"path": "/data/sense-and-sensibility.opus"}, device="auto")
    status = wait_for(stack, "sample", phase_is("Succeeded", "Failed"))["status"]
    assert status["phase"] == "Succeeded", status
    assert (status["device"], status["attempts"], status["nodeName"]) == ("cpu", 1, "local")
    assert condition(status, "GPUFallback")["reason"] == "NoGPUNodes"  # no CUDA on this machine
    with registry(stack) as client:
        record = client.get(f"/v1/jobs/{uid}").json()
        assert (record["name"], record["phase"], record["device"]) == ("default/sample", "Succeeded", "cpu")
        assert record["transcript_id"] == status["transcriptId"]
        text = client.get(f"/v1/transcripts/{status['transcriptId']}", params={"format": "text"}).text
    assert word_error_rate(REFERENCE_TEXT, text) <= MAX_WORD_ERROR_RATE, text
    assert status["outputs"]["json"].endswith(f"/v1/transcripts/{status['transcriptId']}?format=json")


def test_device_gpu_waits_pending_with_its_reason_and_delete_cancels_it(stack, tmp_path) -> None:
    uid = apply(stack, tmp_path, "gpu-only", source={"path": "/data/sense-and-sensibility.opus"}, device="gpu")
    found = wait_for(stack, "gpu-only", lambda s: any(c["reason"] == "WaitingForGPU" for c in s.get("conditions", [])))
    assert found["status"]["phase"] == "Pending" and "Insufficient nvidia.com/gpu" in found["status"]["message"]
    deleted = run_dhg("delete", "tj", "gpu-only", "--data-dir", stack.data_dir.root)
    assert deleted.returncode == 0, deleted.stderr
    assert store_of(stack).get("default", "gpu-only") is None
    with registry(stack) as client:
        assert client.get(f"/v1/jobs/{uid}").json()["phase"] == "Cancelled"


def test_bad_input_fails_at_once_and_is_never_retried(stack, tmp_path) -> None:
    apply(stack, tmp_path, "escape", source={"path": "/etc/passwd"}, device="cpu")
    status = wait_for(stack, "escape", phase_is("Succeeded", "Failed"))["status"]
    assert status["phase"] == "Failed" and condition(status, "Failed")["reason"] == "BadInput"
    assert status["attempts"] == 1 and "outside the allowed roots" in status["message"]
    climbing = "/data/" + "../" * 4 + "etc/passwd"  # out of the data root by parent steps
    apply(stack, tmp_path, "climb", source={"path": climbing}, device="cpu")
    climbed = wait_for(stack, "climb", phase_is("Succeeded", "Failed"))["status"]
    assert climbed["phase"] == "Failed" and condition(climbed, "Failed")["reason"] == "BadInput", climbed


def test_a_transient_source_failure_is_retried_after_its_backoff(stack, media, tmp_path) -> None:
    url = media.url(f"flaky-{uuid.uuid4().hex[:8]}.opus")
    apply(stack, tmp_path, "flaky", source={"url": url}, device="cpu")
    status = wait_for(stack, "flaky", phase_is("Succeeded", "Failed"), timeout=180)["status"]
    assert status["phase"] == "Succeeded", status
    assert (status["attempts"], status["failedAttempts"]) == (2, 1)
    events = [e["reason"] for e in store_of(stack).events(store_of(stack).get("default", "flaky")["metadata"]["uid"])]
    assert "Retrying" in events and events[-1] == "Succeeded"
    first = run_dhg("logs", "tj/flaky", "--previous", "--data-dir", stack.data_dir.root)  # the failed attempt's
    # The worker's own words for the media server's answer, not any "503" (a timestamp's milliseconds can be .503).
    refused = "answered 503"
    assert first.returncode == 0 and refused in first.stdout, first.stdout[-500:]
    assert refused not in run_dhg("logs", "tj/flaky", "--data-dir", stack.data_dir.root).stdout


def test_delete_while_running_stops_the_worker_and_stores_no_transcript(stack, media, tmp_path) -> None:
    uid = apply(stack, tmp_path, "stalled", source={"url": media.url("stall-delete.opus")}, device="cpu")
    wait_for(stack, "stalled", phase_is("Running"))
    folder = stack.data_dir.jobs / "default" / "stalled"
    assert (folder / "stalled-cpu-1" / "output.log").exists()
    deleted = run_dhg("delete", "tj", "stalled", "--data-dir", stack.data_dir.root)
    assert deleted.returncode == 0, deleted.stderr
    assert not folder.exists()  # its worker's folder (output, scratch) went with it
    with registry(stack) as client:
        assert client.get(f"/v1/jobs/{uid}").json()["phase"] == "Cancelled"
        assert client.get("/v1/transcripts", params={"job_id": uid}).json()["total"] == 0


def test_a_worker_killed_mid_job_is_retried_with_its_attempts_counted_and_one_transcript(
    stack, media, tmp_path
) -> None:
    """Issue 17's fault: the worker dies (SIGKILL, as the OOM killer or a lost node would) while it downloads; the
    runner sees exit 137 as a cluster reports it, retries after the backoff, and one transcript is stored."""
    media.released.clear()
    uid = apply(stack, tmp_path, "killed", source={"url": media.url("stall-killed.opus")}, device="cpu")
    wait_for(stack, "killed", phase_is("Running"))
    pid_file = stack.data_dir.jobs / "default" / "killed" / "killed-cpu-1" / "pid"
    os.kill(int(pid_file.read_text()), signal.SIGKILL)
    status = wait_for(stack, "killed", lambda status: status.get("failedAttempts") == 1)["status"]
    assert "(OOMKilled)" in status["message"], status  # exit 137, as a kubelet reports a SIGKILLed container
    media.released.set()
    status = wait_for(stack, "killed", phase_is("Succeeded", "Failed"), timeout=180)["status"]
    assert status["phase"] == "Succeeded", status
    assert (status["attempts"], status["failedAttempts"]) == (2, 1)
    reasons = [e["reason"] for e in store_of(stack).events(uid)]
    assert "Retrying" in reasons and reasons[-1] == "Succeeded", reasons
    with registry(stack) as client:
        assert client.get("/v1/transcripts", params={"job_id": uid}).json()["total"] == 1
        assert client.get(f"/v1/jobs/{uid}").json()["phase"] == "Succeeded"


def test_a_job_running_when_dhg_up_stops_runs_again_at_the_next_start_once(media, tmp_path) -> None:
    media.released.clear()
    first = start_stack(tmp_path / "data", tmp_path / "first.out")
    try:
        uid = apply(first, tmp_path, "restarted", source={"url": media.url("stall-restart.opus")}, device="cpu")
        wait_for(first, "restarted", phase_is("Running"))
    finally:
        first.stop()
    media.released.set()
    second = start_stack(tmp_path / "data", tmp_path / "second.out")
    try:
        status = wait_for(second, "restarted", phase_is("Succeeded", "Failed"))["status"]
        assert status["phase"] == "Succeeded" and status["attempts"] == 1, status
        with registry(second) as client:
            assert client.get("/v1/transcripts", params={"job_id": uid}).json()["total"] == 1
            assert client.get(f"/v1/jobs/{uid}").json()["phase"] == "Succeeded"
    finally:
        second.stop()


def test_apply_wait_follows_to_the_end_and_wait_and_logs_answer_as_kubectl_does(stack, tmp_path) -> None:
    root = ("--data-dir", stack.data_dir.root)
    path = tmp_path / "followed.yaml"
    body = {"apiVersion": "factory.dhg.ai/v1alpha1", "kind": "TranscriptionJob", "metadata": {"name": "followed"}}
    path.write_text(yaml.safe_dump({**body, "spec": {"source": {"path": "/data/sense-and-sensibility.opus"}}}))
    followed = run_dhg("apply", "-f", path, "--wait", *root)
    assert followed.returncode == 0, followed.stdout + followed.stderr
    assert "transcriptionjob.factory.dhg.ai/followed created" in followed.stdout
    assert "transcriptionjob.factory.dhg.ai/followed Succeeded: transcript " in followed.stdout
    met = run_dhg("wait", "tj/followed", "--for=condition=Succeeded", "--timeout=10s", *root)
    assert met.returncode == 0 and "transcriptionjob.factory.dhg.ai/followed condition met" in met.stdout
    logged = run_dhg("logs", "tj/followed", *root)
    assert logged.returncode == 0 and '"status":"Succeeded"' in logged.stdout.replace(" ", "")
    apply(stack, tmp_path, "stuck", source={"path": "/data/sense-and-sensibility.opus"}, device="gpu")
    timed_out = run_dhg("wait", "tj/stuck", "--for=condition=Succeeded", "--timeout=2s", *root)
    assert_one_line_error(timed_out, "timed out waiting for the condition on transcriptionjobs/stuck")
    path.write_text(yaml.safe_dump({**body, "metadata": {"name": "refused"}, "spec": {"source": {"path": "/etc/x"}}}))
    failing = run_dhg("apply", "-f", path, "--wait", *root)
    assert_one_line_error(failing, "refused Failed: path /etc/x is outside the allowed roots")
    assert run_dhg("delete", "tj", "stuck", "refused", "followed", *root).returncode == 0


def test_the_readmes_example_runs_unchanged(stack) -> None:
    """`dhg apply -f examples/cpu.yaml --wait`, the README's step beside `kubectl apply -f examples/cpu.yaml`."""
    example = EXAMPLES_DIR / "cpu.yaml"
    result = run_dhg("apply", "-f", example, "--wait", "--data-dir", stack.data_dir.root)
    assert result.returncode == 0, result.stdout + result.stderr
    found = store_of(stack).get("default", "podcast-episode-cpu")
    assert found is not None and found["status"]["phase"] == "Succeeded" and found["status"]["device"] == "cpu"
    assert "GPUFallback" not in [c["type"] for c in found["status"]["conditions"]]  # device: cpu asks for no GPU
    assert run_dhg("delete", "tj", "podcast-episode-cpu", "--data-dir", stack.data_dir.root).returncode == 0


@pytest.mark.parametrize("example", sorted(EXAMPLES_DIR.glob("*.yaml")), ids=lambda p: p.name)
def test_every_example_reaches_its_final_state_locally(stack, media, tmp_path, example: Path) -> None:
    """Each example with its source made local (a URL on the loopback media server, an asset uploaded to the
    Registry, the path under the data root as it is): Succeeded with the transcript, or (device: gpu) Pending
    waiting for a GPU, as on a cluster without one."""
    document = yaml.safe_load(example.read_text())
    name, source = document["metadata"]["name"], document["spec"]["source"]
    if "url" in source:
        source["url"] = media.url("sample.opus")
    elif "assetId" in source:
        with registry(stack) as client:
            stored = client.post("/v1/assets", files={"file": (SAMPLE_PATH.name, SAMPLE)})
            assert stored.status_code in (200, 201), stored.text
            source["assetId"] = stored.json()["id"]
    path = tmp_path / example.name
    path.write_text(yaml.safe_dump(document))
    assert run_dhg("apply", "-f", path, "--data-dir", stack.data_dir.root).returncode == 0
    try:
        if document["spec"].get("device") == "gpu":
            found = wait_for(stack, name, lambda s: "Insufficient nvidia.com/gpu" in (s.get("message") or ""))
            assert found["status"]["phase"] == "Pending"
            assert condition(found["status"], "Scheduled")["reason"] == "WaitingForGPU"
            return
        status = wait_for(stack, name, phase_is("Succeeded", "Failed"))["status"]
        assert status["phase"] == "Succeeded", status
        with registry(stack) as client:
            text = client.get(f"/v1/transcripts/{status['transcriptId']}", params={"format": "text"}).text
        if document["spec"].get("diarization", {}).get("enabled"):  # one reader: every line is speaker A's
            assert all(line.startswith("[A] ") for line in text.splitlines()), text
            text = text.replace("[A] ", "")
        assert word_error_rate(REFERENCE_TEXT, text) <= MAX_WORD_ERROR_RATE, text
    finally:
        assert run_dhg("delete", "tj", name, "--data-dir", stack.data_dir.root).returncode == 0
