"""Helpers of the operator's end-to-end tests."""

from __future__ import annotations

import collections
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from dhg.sample import SAMPLE_PATH
from kubesim.waiting import wait_for, wait_until
from tests.conftest import make_token

ROOT = Path(__file__).parents[3]
FAKE_WORKER = Path(__file__).parents[1] / "fake_worker.py"
GROUP, PLURAL = "factory.dhg.ai", "transcriptionjobs"
KOPF_RUN = ["run", "--standalone", "--all-namespaces", "-m", "controller.operator"]


def job(name: str, **spec) -> dict:
    spec.setdefault("source", {"url": f"https://media.example.org/{name}.opus"})
    return {"apiVersion": f"{GROUP}/v1alpha1", "kind": "TranscriptionJob", "metadata": {"name": name}, "spec": spec}


def finished(api, name: str, timeout: float = 60, namespace: str = "default") -> dict:
    found = wait_for(
        api,
        GROUP,
        PLURAL,
        namespace,
        name,
        lambda o: (o or {}).get("status", {}).get("phase") in {"Succeeded", "Failed"},
        timeout,
    )
    assert found is not None
    return found


def worker_jobs(api, name: str, namespace: str = "default") -> list[dict]:
    items, _ = api.store.list(api.store.registry.get("batch", "jobs"), namespace)
    return [j for j in items if j["metadata"]["labels"].get(f"{GROUP}/transcriptionjob") == name]


def delete_while_running(api, kubectl, admin, name: str) -> str:
    """Wait until the job runs and the Registry records it so, delete it with kubectl (waiting for it to go), and
    check the record is Cancelled; returns the job's uid."""
    running = wait_for(
        api, GROUP, PLURAL, "default", name, lambda o: (o or {}).get("status", {}).get("phase") == "Running"
    )
    uid = running["metadata"]["uid"]
    wait_until(api, lambda: admin.get(f"/v1/jobs/{uid}").json().get("phase") == "Running", what="recorded")
    kubectl.run("delete", "tj", name, "--wait=true", timeout=90)
    assert admin.get(f"/v1/jobs/{uid}").json()["phase"] == "Cancelled"
    return uid


@pytest.fixture(name="worker_command")
def real_worker_command(registry, monkeypatch) -> list[str]:
    """The real worker, delivering to the session's Registry (import it into a module to override the stand-in)."""
    monkeypatch.setenv("DHG_CONTROLLER_WORKER__REGISTRY_URL", registry.url)
    monkeypatch.setenv("DHG_CONTROLLER_WORKER__URL_SOURCE_ALLOWED_NETWORKS", '["127.0.0.1/32"]')  # the media server
    return [sys.executable, "-m", "asr.worker"]


@pytest.fixture(name="worker_token")
def real_worker_token(admin) -> str:
    return make_token(admin, "write", name="worker")


@pytest.fixture(name="media")
def media_server(tmp_path) -> Iterator[tuple[str, collections.Counter[str]]]:
    """An HTTP server with the bundled sample under any path, ten minutes of it (the sample 40 times) under
    /long/, and a 503 for the first GET of a path under /flaky/, as a CDN in a bad moment answers. Yields its
    base URL and the GETs per path."""
    long = tmp_path / "long.opus"
    loop = ["ffmpeg", "-nostdin", "-loglevel", "error", "-stream_loop", "39", "-i", str(SAMPLE_PATH), "-c", "copy"]
    subprocess.run([*loop, str(long)], check=True, timeout=60)
    sample, hits = SAMPLE_PATH.read_bytes(), collections.Counter[str]()

    class Media(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits[self.path] += 1
            if self.path.startswith("/flaky/") and hits[self.path] == 1:
                self.send_response(503)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            audio = long.read_bytes() if self.path.startswith("/long/") else sample
            self.send_response(200)
            self.send_header("Content-Type", "audio/ogg")
            self.send_header("Content-Length", str(len(audio)))
            self.end_headers()
            self.wfile.write(audio)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Media)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", hits
    server.shutdown()
    thread.join(timeout=10)
