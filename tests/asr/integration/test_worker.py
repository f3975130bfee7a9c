"""`python -m asr.worker` as the controller's pods run it: real sources, real model, real Registry."""

import json
import os
import shutil
import subprocess
import sys
import threading
import uuid
from functools import partial
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from dhg.postgres import free_port
from dhg_core.worker import ExitCode
from tests.asr.service import SAMPLE

EXIT_BAD_INPUT, EXIT_TRANSIENT = ExitCode.BAD_INPUT, ExitCode.TRANSIENT


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
        "DHG_ASR_TERMINATION_LOG": str(termination),
        "DHG_ASR_WORKER_ALLOWED_NETWORKS": json.dumps(["127.0.0.1/32"]),  # the tests' media servers
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
    # the default model: the multilingual base, which detected the language and says how sure it was
    assert (summary["device"], summary["engine"], summary["model"]) == ("cpu", "faster-whisper", "base")
    transcript = admin.get(f"/v1/transcripts/{summary['transcriptId']}").json()
    assert transcript["job_id"] == job_id and "Dashwood" in transcript["text"]
    assert transcript["language"] == "en" and transcript["language_probability"] > 0.5, transcript


SPANISH = "Buenos días. Hoy hace muy buen tiempo y vamos juntos al parque."


def test_a_translate_job_stores_english_and_an_english_only_model_is_bad_input(registry, admin, media_root, tmp_path):
    raw = tmp_path / "es-espeak.wav"
    subprocess.run(["espeak-ng", "-v", "es", "-s", "130", "-g", "4", "-w", str(raw), SPANISH], check=True)
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(raw), "-ar", "16000", str(media_root / "es.wav")],
        check=True,
    )
    arguments = ("--path", str(media_root / "es.wav"), "--task", "translate")
    result, summary = run_worker(
        tmp_path, registry.url, registry.admin_token, media_root, "--job-id", str(uuid.uuid4()), *arguments
    )
    assert result.returncode == 0, result.stderr
    assert (summary["model"], summary["language"]) == ("base", "es"), summary
    transcript = admin.get(f"/v1/transcripts/{summary['transcriptId']}").json()
    assert "park" in transcript["text"].lower() and "parque" not in transcript["text"].lower(), transcript["text"]
    refused, summary = run_worker(
        tmp_path, registry.url, registry.admin_token, media_root, "--job-id", str(uuid.uuid4()), *arguments,
        "--model", "tiny.en",
    )  # fmt: skip
    assert refused.returncode == EXIT_BAD_INPUT, refused.stderr
    assert "English-only and cannot translate; use 'base'" in summary["message"], summary


def test_a_job_whose_id_holds_another_transcript_fails_with_the_registrys_words(registry, admin, media_root, tmp_path):
    """Run again for a job whose stored transcript says something else (an admin replaced it by an empty one): the
    Registry refuses the result, and the worker fails as bad input, quoting it, instead of reporting Succeeded."""
    job_id = str(uuid.uuid4())
    empty = admin.post("/v1/transcripts", json={"job_id": job_id, "segments": []}).json()
    arguments = ("--job-id", job_id, "--path", str(media_root / "sample.opus"))
    result, summary = run_worker(tmp_path, registry.url, registry.admin_token, media_root, *arguments)
    assert result.returncode == EXIT_BAD_INPUT, result.stderr
    assert summary["status"] == "Failed", summary
    message = summary["message"]
    assert "the Registry refused the result" in message and empty["id"] in message and "differ" in message
    assert admin.get("/v1/transcripts", params={"job_id": job_id}).json()["items"][0]["id"] == empty["id"]
    assert (tmp_path / "outbox" / "dead" / f"{job_id}.reason.txt").exists()  # set aside, never retried forever


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


class FlakyRegistry(ThreadingHTTPServer):
    """A proxy in front of the real Registry that refuses (503) the first call made after a transcript push:
    whatever bookkeeping a worker does once its result is stored meets a Registry blip."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.pushed = False
        self.refused: list[str] = []
        self.calls: list[str] = []
        super().__init__(("127.0.0.1", 0), self.Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _forward(self):
            server = self.server
            server.calls.append(f"{self.command} {self.path}")
            if server.pushed and not server.refused:
                server.refused.append(f"{self.command} {self.path}")
                self.send_response(503)
                self.send_header("Content-Type", "application/problem+json")
                self.end_headers()
                self.wfile.write(b'{"title": "Service unavailable", "status": 503}')
                return
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
            answer = httpx.request(self.command, server.upstream + self.path, headers=headers, content=body)
            if self.command == "POST" and self.path == "/v1/transcripts" and answer.status_code in (200, 201):
                server.pushed = True
            self.send_response(answer.status_code)
            for key, value in answer.headers.items():
                if key.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(answer.content)))
            self.end_headers()
            self.wfile.write(answer.content)

        do_GET = do_POST = do_PATCH = do_DELETE = _forward


def test_a_registry_blip_after_the_push_does_not_fail_or_repeat_the_job(registry, admin, media_root, tmp_path):
    proxy = FlakyRegistry(registry.url)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    job_id = str(uuid.uuid4())
    try:
        result, summary = run_worker(
            tmp_path,
            proxy.url,
            registry.admin_token,
            media_root,
            "--job-id",
            job_id,
            "--path",
            str(media_root / "sample.opus"),
        )
    finally:
        proxy.shutdown()
    assert result.returncode == 0, (result.stderr, proxy.calls)
    assert proxy.pushed and proxy.calls.count("POST /v1/transcripts") == 1
    stored = admin.get("/v1/transcripts", params={"job_id": job_id}).json()
    assert stored["total"] == 1 and summary["transcriptId"] == stored["items"][0]["id"]
