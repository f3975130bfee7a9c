"""`python -m asr.worker` as the controller's pods run it: real sources, real model, real Registry."""

import json
import os
import shutil
import subprocess
import sys
import threading
import uuid
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from dhg.postgres import free_port
from tests.asr.service import SAMPLE

EXIT_BAD_INPUT, EXIT_TRANSIENT = 2, 75


@pytest.fixture(scope="module")
def media_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("media-root")
    shutil.copy(SAMPLE, root / "sample.opus")
    (root / "notes.txt").write_text("not audio at all")
    return root


@pytest.fixture(scope="module")
def file_server(media_root):
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(SimpleHTTPRequestHandler, directory=str(media_root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def run_worker(tmp_path, registry_url, token, media_root, *args, **env):
    termination = tmp_path / f"termination-{uuid.uuid4().hex[:6]}"
    environment = {
        **os.environ,
        "DHG_ASR_REGISTRY_URL": registry_url,
        "DHG_ASR_REGISTRY_TOKEN": token,
        "DHG_ASR_OUTBOX_DIR": str(tmp_path / "outbox"),
        "DHG_ASR_WORKER_ALLOWED_ROOTS": json.dumps([str(media_root)]),
        "DHG_ASR_DELIVERY_TIMEOUT_SECONDS": "2",
        "DHG_ASR_OUTBOX_RETRY_BASE_SECONDS": "0.2",
        "DHG_TERMINATION_LOG": str(termination),
        **env,
    }
    result = subprocess.run(
        [sys.executable, "-m", "asr.worker", *args], env=environment, capture_output=True, text=True, timeout=300
    )
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert json.loads(termination.read_text()) == summary
    return result, summary


def test_a_path_source_is_transcribed_and_delivered(registry, admin, media_root, tmp_path):
    job_id = str(uuid.uuid4())
    result, summary = run_worker(
        tmp_path,
        registry.url,
        registry.admin_token,
        media_root,
        "--job-id",
        job_id,
        "--path",
        str(media_root / "sample.opus"),
    )
    assert result.returncode == 0, result.stderr
    assert summary["status"] == "Succeeded" and summary["jobId"] == job_id
    assert summary["audioSeconds"] == pytest.approx(15.4, abs=0.1) and summary["realTimeFactor"] > 1
    assert (summary["device"], summary["engine"], summary["model"]) == ("cpu", "faster-whisper", "tiny.en")
    transcript = admin.get(f"/v1/transcripts/{summary['transcriptId']}").json()
    assert transcript["job_id"] == job_id and "Dashwood" in transcript["text"]


def test_an_asset_source_is_linked_to_its_transcript(registry, admin, media_root, tmp_path):
    asset = admin.post("/v1/assets", files={"file": ("s.opus", SAMPLE.read_bytes(), "audio/ogg")}).json()
    result, summary = run_worker(
        tmp_path,
        registry.url,
        registry.admin_token,
        media_root,
        "--job-id",
        str(uuid.uuid4()),
        "--asset-id",
        asset["id"],
    )
    assert result.returncode == 0, result.stderr
    assert admin.get(f"/v1/transcripts/{summary['transcriptId']}").json()["asset_id"] == asset["id"]


def test_a_url_source_is_downloaded(registry, media_root, file_server, tmp_path):
    result, summary = run_worker(
        tmp_path,
        registry.url,
        registry.admin_token,
        media_root,
        "--job-id",
        str(uuid.uuid4()),
        "--url",
        f"{file_server}/sample.opus",
    )
    assert result.returncode == 0 and summary["segments"] >= 2


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (("--path", "/etc/passwd"), "outside the allowed roots"),
        (("--path", "{root}/missing.wav"), "does not exist"),
        (("--path", "{root}/notes.txt"), "could not be read as audio"),
        (("--url", "{files}/missing.wav"), "answered 404"),
        (("--url", "ftp://example.org/a.wav"), "only http and https"),
        (("--asset-id", "not-a-uuid"), "not a UUID"),
        (("--path", "{root}/sample.opus", "--url", "{files}/sample.opus"), "exactly one source"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(registry, media_root, file_server, tmp_path, source, message):
    args = [a.format(root=media_root, files=file_server) for a in source]
    result, summary = run_worker(
        tmp_path, registry.url, registry.admin_token, media_root, "--job-id", str(uuid.uuid4()), *args
    )
    assert result.returncode == EXIT_BAD_INPUT, result.stderr
    assert summary["status"] == "Failed" and summary["reason"] == "BadInput" and message in summary["message"]
    assert result.stderr.strip().splitlines()[-1].startswith("error: ")


def test_an_unreachable_registry_is_transient_and_the_result_waits(media_root, tmp_path):
    result, summary = run_worker(
        tmp_path,
        f"http://127.0.0.1:{free_port()}",
        "x",
        media_root,
        "--job-id",
        str(uuid.uuid4()),
        "--path",
        str(media_root / "sample.opus"),
    )
    assert result.returncode == EXIT_TRANSIENT and summary["reason"] == "Transient"
    assert len(list((tmp_path / "outbox").glob("*.json"))) == 1


def test_cuda_on_a_machine_without_a_gpu_fails_clearly(registry, media_root, tmp_path):
    result, summary = run_worker(
        tmp_path,
        registry.url,
        registry.admin_token,
        media_root,
        "--job-id",
        str(uuid.uuid4()),
        "--path",
        str(media_root / "sample.opus"),
        "--device",
        "cuda",
    )
    assert result.returncode == EXIT_TRANSIENT and "no CUDA device" in summary["message"]
