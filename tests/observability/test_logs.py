"""The Alloy pipeline (charts/observability/alloy-values.yaml) against the log lines our services really write:
it extracts fields they write, promotes only bounded ones to Loki labels, keeps job and request_id as structured
metadata, reads the time from `ts`, and lets other lines through. The lines come from the real entry points
(`python -m asr`, `python -m asr.worker`, `python -m controller`, `python -m registry serve`) and, for the
fields only a request or a TranscriptionJob adds, from the shared request middleware and the controller's
Kopf log filter."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.observability.alloy_config import Block, Expression, parse

ROOT = Path(__file__).resolve().parents[2]
VALUES = ROOT / "charts" / "observability"
CONTRACT = {"ts", "level", "service", "msg"}  # on every line (DESIGN §2, dhg_core/logs.py)
WHERE_KNOWN = {"job", "request_id"}
BOUNDED = {"service", "level"}  # a handful of services, five levels
DISCOVERY_LABELS = {"namespace", "app", "container"}  # bounded by what is deployed
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def pipeline() -> Block:
    values = yaml.safe_load((VALUES / "alloy-values.yaml").read_text())
    return parse(values["alloy"]["configMap"]["content"])


def stage(name: str) -> dict[str, Any]:
    return pipeline().child("loki.process", "json").child(name).attributes


def extracted() -> dict[str, str]:
    """stage.json's map: extracted name -> JMESPath (an empty path means the same name)."""
    return {name: path or name for name, path in stage("stage.json")["expressions"].items()}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def run_briefly(args: list[str], env: dict[str, str], until: str, timeout: float = 60) -> str:
    """Start a service, wait until its stdout says `until` (or it exits), stop it; its stdout."""
    process = subprocess.Popen(
        [sys.executable, *args], cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    assert process.stdout is not None
    os.set_blocking(process.stdout.fileno(), False)
    output, deadline = b"", time.monotonic() + timeout
    while until.encode() not in output and process.poll() is None and time.monotonic() < deadline:
        output += process.stdout.read() or b""
        time.sleep(0.1)
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    output += process.stdout.read() or b""
    return output.decode()


@pytest.fixture(scope="module")
def service_lines(postgres: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    """Real JSON log lines of each service, keyed by the service name they carry."""
    work = tmp_path_factory.mktemp("logs")
    lines: list[dict[str, Any]] = []
    asr = run_briefly(["-m", "asr", "--port", str(free_port())], {}, until="Application startup complete")
    lines += json_lines(asr)
    lines += json_lines(
        run_briefly(
            ["-m", "registry", "serve", "--port", str(free_port())],
            {
                "DHG_REGISTRY_DATABASE_URL": postgres.create_database("logs"),
                "DHG_REGISTRY_STORAGE_DIR": str(work / "media"),
                "DHG_REGISTRY_ADMIN_TOKEN": "test-admin-" + uuid.uuid4().hex,
            },
            until="Application startup complete",
        )
    )
    # No API server: the operator logs its failing start-up and retries.
    lines += json_lines(run_briefly(["-m", "controller"], {"KUBECONFIG": str(work / "none")}, until='"error"'))
    speech = work / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(speech), "one two three"], check=True)
    worker = subprocess.run(
        [sys.executable, "-m", "asr.worker", "--job-id", str(uuid.uuid4()), "--path", str(speech)],
        cwd=ROOT,
        # DHG_ASR_JOB as the controller sets it (namespace/name of the TranscriptionJob): on every line as `job`
        env={**os.environ, "DHG_ASR_WORKER_ALLOWED_ROOTS": json.dumps([str(work)]), "DHG_ASR_JOB": "dhg/a"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines += [line for line in json_lines(worker.stdout) if "msg" in line]  # not the summary it also prints
    lines += request_and_job_lines()
    by_service: dict[str, list[dict[str, Any]]] = {}
    for line in lines:
        by_service.setdefault(str(line.get("service")), []).append(line)
    return by_service


def request_and_job_lines() -> list[dict[str, Any]]:
    """A failed request through the middleware both APIs use (adds request_id), and a Kopf record about a
    TranscriptionJob through the controller's log filter (adds job), each formatted by dhg_core.logs."""
    import asyncio

    from controller.logs import KopfRecords
    from dhg_core.http import RequestContextMiddleware
    from dhg_core.logs import JsonFormatter

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("registry"))
    http_logger = logging.getLogger("http")
    http_logger.addHandler(handler)

    async def failing_app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 500, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def call() -> None:
        middleware = RequestContextMiddleware(failing_app, observe=lambda *_: None)  # type: ignore[arg-type]
        scope = {"type": "http", "method": "GET", "path": "/v1/assets", "headers": [], "route": None}

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b""}

        async def send(message: Any) -> None:
            return None

        await middleware(scope, receive, send)

    try:
        asyncio.run(call())
    finally:
        http_logger.removeHandler(handler)

    controller = logging.StreamHandler(stream)
    controller.setFormatter(JsonFormatter("controller"))
    controller.addFilter(KopfRecords())
    reference = {"apiVersion": "factory.dhg.ai/v1alpha1", "kind": "TranscriptionJob", "namespace": "dhg", "name": "a"}
    record = logging.LogRecord("kopf.objects", logging.WARNING, __file__, 0, "job scheduled", None, None)
    record.__dict__.update({"k8s_ref": reference, "settings": {}, "k8s_skip": False})
    # Through this handler only: not through the kopf.objects logger, where a Kopf run earlier in this process
    # left its own handler, which posts records as Kubernetes Events and reads real settings.
    controller.handle(record)
    return json_lines(stream.getvalue())


def test_the_config_parses_into_the_components_the_pipeline_needs() -> None:
    root = pipeline()
    names = {(block.name, block.label) for block in root.blocks}
    assert names == {
        ("discovery.kubernetes", "pods"),
        ("discovery.relabel", "pods"),
        ("loki.source.kubernetes", "pods"),
        ("loki.process", "json"),
        ("loki.write", "loki"),
    }
    assert root.child("discovery.kubernetes").attributes["role"] == "pod"
    source = root.child("loki.source.kubernetes").attributes
    assert source["targets"] == Expression("discovery.relabel.pods.output")
    assert source["forward_to"] == [Expression("loki.process.json.receiver")]
    assert root.child("loki.process").attributes["forward_to"] == [Expression("loki.write.loki.receiver")]


def test_discovery_only_reads_pods_on_its_own_node() -> None:
    selector = pipeline().child("discovery.kubernetes").child("selectors").attributes
    assert selector["role"] == "pod"
    assert selector["field"] == Expression('"spec.nodeName=" + sys.env("HOSTNAME")')


def test_logs_go_to_the_loki_service_of_the_loki_values() -> None:
    pins = dict(line.split("=", 1) for line in (VALUES / "versions.env").read_text().splitlines() if line[:1].isalpha())
    loki = yaml.safe_load((VALUES / "loki-values.yaml").read_text())
    assert loki["gateway"]["enabled"] is False  # straight to Loki's own service
    assert loki["loki"]["auth_enabled"] is False  # one tenant: no X-Scope-OrgID
    url = pipeline().child("loki.write").child("endpoint").attributes["url"]
    service = f"http://{pins['LOKI_RELEASE']}.{pins['MONITORING_NAMESPACE']}.svc.cluster.local:3100"
    assert url == f"{service}/loki/api/v1/push"


def test_stream_labels_are_only_bounded_ones() -> None:
    relabelled = {rule.attributes["target_label"] for rule in pipeline().child("discovery.relabel").children("rule")}
    promoted = set(stage("stage.labels")["values"])
    to_metadata = set(stage("stage.structured_metadata")["values"])
    assert promoted == BOUNDED
    assert (relabelled | promoted) - to_metadata == DISCOVERY_LABELS | BOUNDED
    assert WHERE_KNOWN | {"pod"} <= to_metadata  # one value per job, request, worker pod: never a stream each


def test_non_json_lines_pass_through_and_time_comes_from_ts() -> None:
    assert stage("stage.json").get("drop_malformed", False) is False
    assert "stage.drop" not in {block.name for block in pipeline().child("loki.process").blocks}
    timestamp = stage("stage.timestamp")
    assert timestamp["source"] == "ts" and timestamp["source"] in extracted()
    assert timestamp["format"] == "RFC3339Nano"


def test_the_pipeline_extracts_exactly_the_contract_fields() -> None:
    assert set(extracted().values()) == set(extracted())  # each field under its own name
    assert set(extracted()) == CONTRACT - {"msg"} | WHERE_KNOWN  # msg stays in the line for `| json`
    promoted_or_kept = set(stage("stage.labels")["values"]) | set(stage("stage.structured_metadata")["values"])
    assert set(extracted()) - {"ts"} <= promoted_or_kept


def test_every_service_writes_the_fields_the_pipeline_reads(service_lines: dict[str, list[dict[str, Any]]]) -> None:
    assert {"asr", "asr-worker", "registry", "controller"} <= set(service_lines)
    for service, lines in service_lines.items():
        for line in lines:
            assert set(line) >= CONTRACT, f"{service} wrote a line without {CONTRACT - set(line)}: {line}"
            assert RFC3339.match(line["ts"]), line["ts"]
            assert line["level"] in {"debug", "info", "warning", "error", "critical"}
    written = {key for lines in service_lines.values() for line in lines for key in line}
    assert set(extracted()) <= written, f"extracted but never written: {set(extracted()) - written}"
    assert any("request_id" in line for line in service_lines["registry"])
    assert any(line.get("job") == "dhg/a" for line in service_lines["controller"])
    # one job's lines: the controller's about it and all its worker's, by one value
    assert service_lines["asr-worker"] and all(line.get("job") == "dhg/a" for line in service_lines["asr-worker"])


def test_label_values_stay_bounded(service_lines: dict[str, list[dict[str, Any]]]) -> None:
    """Label values are service names and levels, never ids."""
    for lines in service_lines.values():
        for line in lines:
            assert re.fullmatch(r"[a-z]+(-worker)?", line["service"]), line["service"]
