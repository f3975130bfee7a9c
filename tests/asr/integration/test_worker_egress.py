"""The worker's `source.url` under the address policy (issue 17, class 3): loopback, private and link-local
targets, names resolving to them and redirects into them are bad input (exit 2, never retried) refused before any
connection, so nothing of what an internal service answers (not even its status) is reported back."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from dhg_core.worker import ExitCode
from tests.asr.integration.test_worker import run_worker
from tests.asr.service import SAMPLE


class Recorder(BaseHTTPRequestHandler):
    """Serves the sample on /sample.opus, answers 418 on /internal, redirects /hop to Recorder.redirect_to."""

    hits: list[str] = []
    redirect_to = ""

    def do_GET(self) -> None:
        self.hits.append(f"{self.server.server_address[0]}{self.path}")
        if self.path == "/hop":
            self.send_response(302)
            self.send_header("Location", self.redirect_to)
            self.end_headers()
        elif self.path == "/sample.opus":
            data = SAMPLE.read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        else:
            self.send_response(418)
            self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def media_root(tmp_path):
    return tmp_path


@pytest.fixture
def servers() -> Iterator[tuple[str, str]]:
    """A server on 127.0.0.1 (the one the tests allow) and an 'internal' one on 127.0.0.2."""
    Recorder.hits = []
    started = [ThreadingHTTPServer((host, 0), Recorder) for host in ("127.0.0.1", "127.0.0.2")]
    for server in started:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    allowed, internal = (f"http://{s.server_address[0]}:{s.server_address[1]}" for s in started)
    Recorder.redirect_to = f"{internal}/internal"
    yield allowed, internal
    for server in started:
        server.shutdown()


def refused(tmp_path, registry, media_root, url: str, **env: str) -> dict:
    result, summary = run_worker(
        tmp_path, registry.url, registry.admin_token, media_root, "--job-id", str(uuid.uuid4()), "--url", url, **env
    )
    assert result.returncode == ExitCode.BAD_INPUT, (result.returncode, result.stderr[-500:])
    assert summary["reason"] == "BadInput" and "refused by the address policy" in summary["message"], summary
    assert "answered" not in summary["message"]  # nothing the internal service answered (its 418)
    return summary


def test_internal_targets_are_refused_before_any_connection(registry, media_root, servers, tmp_path) -> None:
    allowed, internal = servers
    port = allowed.rsplit(":", 1)[1]
    nothing_allowed = {"DHG_ASR_WORKER_ALLOWED_NETWORKS": "[]"}
    summary = refused(tmp_path, registry, media_root, f"{allowed}/internal", **nothing_allowed)
    assert "loopback" in summary["message"]
    refused(tmp_path, registry, media_root, f"http://localhost:{port}/internal", **nothing_allowed)  # a name
    refused(tmp_path, registry, media_root, f"http://[::ffff:127.0.0.1]:{port}/internal", **nothing_allowed)
    link_local = refused(tmp_path, registry, media_root, "http://169.254.169.254/latest/meta-data/")
    assert "link-local" in link_local["message"]
    refused(tmp_path, registry, media_root, f"{internal}/internal")  # 127.0.0.2: not in the allow-list
    assert Recorder.hits == []


def test_a_redirect_into_an_internal_address_is_refused(registry, media_root, servers, tmp_path) -> None:
    allowed, _ = servers
    refused(tmp_path, registry, media_root, f"{allowed}/hop")
    assert Recorder.hits == ["127.0.0.1/hop"]  # the allowed hop only: the internal one was never reached


def test_the_allow_list_opens_what_it_names(registry, media_root, servers, tmp_path) -> None:
    allowed, _ = servers
    result, summary = run_worker(
        tmp_path, registry.url, registry.admin_token, media_root, "--job-id", str(uuid.uuid4()),
        "--url", f"{allowed}/hop", DHG_ASR_WORKER_ALLOWED_NETWORKS=json.dumps(["127.0.0.0/8"]),
    )  # fmt: skip
    assert result.returncode == ExitCode.BAD_INPUT and "answered 418" in summary["message"]  # reached, allowed
    result, summary = run_worker(
        tmp_path, registry.url, registry.admin_token, media_root, "--job-id", str(uuid.uuid4()),
        "--url", f"{allowed}/sample.opus",
    )  # fmt: skip
    assert result.returncode == 0 and summary["segments"] >= 1
