"""Every query is real: the local stack (`dhg up`: Postgres, the Registry with its embedding model, the ASR
service with real Whisper), the controller (`python -m controller`) on the test Kubernetes API with jobs through
it (one falling back to CPU, one failing, one retried, one waiting long enough to be seen Running), Debian's
postgres_exporter on the stack's Postgres, and a real Prometheus scraping them all with the chart's rules.
After a workload (the sample's upload, transcription and search, more transcriptions, searches, webhooks that
succeed and fail), every rule's and every dashboard panel's PromQL parses and evaluates through Prometheus'
HTTP API, every rule evaluates healthy, every panel meant to show traffic returns a series, and every metric
name anywhere in them is one a scrape returned."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from dhg import monitoring
from dhg.postgres import free_port
from kubesim import KubeApiServer, SimulatedCluster
from kubesim.fixtures import KUBECTL, Kubectl
from observability import dashboards, rules
from observability.promql import metric_names
from tests.controller.integration.support import FAKE_WORKER, ROOT, job
from tests.dhg.integration.conftest import ServingStack, serve

POSTGRES_EXPORTER = Path("/usr/bin/prometheus-postgres-exporter")
SCRAPE_INTERVAL = "1s"
SAMPLE = ROOT / "dhg" / "samples"
# Grafana's variables, as a dashboard's defaults resolve them against this Prometheus.
VARIABLES = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "1h", "$namespace": ".*"}
JOBS = {  # name → spec: the controller's paths the dashboards show
    "fallback": {"fallback": {"afterSeconds": 1}},  # device auto, no GPU node: falls back to CPU
    "broken": {"device": "cpu", "source": {"url": "https://media.example.org/bad.opus"}},
    "retried": {"device": "cpu", "source": {"url": "https://media.example.org/fails-once.opus"}},
    "waited": {"device": "cpu", "source": {"url": "https://media.example.org/five-seconds.opus"}},
}


@dataclass(frozen=True)
class Observed:
    prometheus: str
    scraped: set[str]


class _Receiver(BaseHTTPRequestHandler):
    """A webhook subscriber: /ok takes deliveries, /broken answers 500 to every one."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(204 if self.path == "/ok" else 500)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def query(prometheus: str, expr: str, what: str = "") -> list[dict[str, Any]]:
    response = httpx.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=30)
    body = response.json()
    assert response.status_code == 200 and body["status"] == "success", f"{what} {expr}\n→ {response.text[:500]}"
    return list(body["data"]["result"])


def wait_for(what: str, check: Any, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.5)
    raise AssertionError(f"{what}: not within {timeout} s")


def resolve(expr: str) -> str:
    for variable, value in VARIABLES.items():
        expr = expr.replace(variable, value)
    assert "$" not in expr, f"a variable the test cannot resolve: {expr}"
    return expr


def _start(command: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with log.open("wb") as output:
        return subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServingStack]:
    work = tmp_path_factory.mktemp("observed-stack")
    running = serve(
        work / "data", work / "dhg-up.out", DHG_REGISTRY_EMBEDDINGS="auto", DHG_REGISTRY_STATS_INTERVAL_SECONDS="1"
    )
    yield running
    running.stop()


@pytest.fixture(scope="module")
def kubernetes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[KubeApiServer, Kubectl]]:
    work = tmp_path_factory.mktemp("observed-kube")
    assert KUBECTL.exists(), f"kubectl is missing at {KUBECTL}: run `make tools`"
    with KubeApiServer(workdir=work, bookmark_interval=60.0) as api:
        cluster = SimulatedCluster(api).start()
        cluster.add_node("cpu-1")  # and no GPU node: `device: auto` falls back
        kubectl = Kubectl(api, work / "kubectl-cache")
        kubectl.run("apply", "-f", str(ROOT / "crds" / "transcriptionjob.yaml"))
        secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "dhg-worker-registry-token"}}
        kubectl.apply({**secret, "stringData": {"token": "unused-by-the-fake-worker"}})
        yield api, kubectl


@pytest.fixture(scope="module")
def observed(stack: ServingStack, kubernetes: tuple[KubeApiServer, Kubectl], tmp_path_factory) -> Iterator[Observed]:
    api, kubectl = kubernetes
    work = tmp_path_factory.mktemp("observed")
    assert POSTGRES_EXPORTER.exists(), "Debian's prometheus-postgres-exporter is missing (make system-packages)"
    prometheus_binary = monitoring.find_prometheus()
    state = json.loads(stack.data_dir.state_file.read_text())
    base = {k: v for k, v in os.environ.items() if not k.startswith("DHG_")}
    controller_port, exporter_port, prometheus_port = free_port(), free_port(), free_port()
    processes = [
        _start(
            [sys.executable, "-m", "controller"],
            work / "controller.log",
            base
            | {
                "KUBECONFIG": str(api.kubeconfig),
                "DHG_CONTROLLER_STANDALONE": "true",
                "DHG_CONTROLLER_REGISTRY_URL": stack.url,
                "DHG_CONTROLLER_REGISTRY_TOKEN": stack.admin_token,
                "DHG_CONTROLLER_WORKER__COMMAND": json.dumps([sys.executable, str(FAKE_WORKER)]),
                "DHG_CONTROLLER_WORKER__SCRATCH_MOUNT": "/scratch",
                "DHG_CONTROLLER_METRICS_PORT": str(controller_port),
                "DHG_CONTROLLER_LIVENESS_PORT": str(free_port()),
            },
        ),
        _start(
            [str(POSTGRES_EXPORTER), f"--web.listen-address=127.0.0.1:{exporter_port}"],
            work / "postgres-exporter.log",
            base
            | {"DATA_SOURCE_NAME": f"postgresql://postgres@127.0.0.1:{state['postgres_port']}/dhg?sslmode=disable"},
        ),
    ]
    targets = {
        "registry": [stack.url.removeprefix("http://")],
        "asr": [stack.asr_url.removeprefix("http://")],
        "controller": [f"127.0.0.1:{controller_port}"],
        "postgresql": [f"127.0.0.1:{exporter_port}"],
    }
    config = monitoring.scrape_config(
        targets, rule_files=monitoring.write_rules(work / "rules"), interval=SCRAPE_INTERVAL
    )
    (work / "prometheus.yml").write_text(yaml.safe_dump(config))
    address = f"127.0.0.1:{prometheus_port}"
    arguments = monitoring.prometheus_arguments(work / "prometheus.yml", work / "tsdb", address)
    processes.append(_start([str(prometheus_binary), *arguments], work / "prometheus.log", base))
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    url = f"http://{address}"
    try:
        wait_for("Prometheus ready", lambda: _answers(f"{url}/-/ready"), timeout=60)
        _workload(stack, kubectl, api, receiver.server_address[1])
        # Every target up, and a few more rounds of scrapes and rule evaluations after the workload ended.
        wait_for(
            "every target scraped",
            lambda: {r["metric"]["job"] for r in query(url, "up == 1")} == set(targets),
            timeout=60,
        )
        time.sleep(5)
        names = httpx.get(f"{url}/api/v1/label/__name__/values", timeout=30).json()["data"]
        yield Observed(url, set(names))
    except BaseException:
        for log in sorted(work.glob("*.log")):
            print(f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}")
        raise
    finally:
        receiver.shutdown()
        for process in processes:
            _stop(process)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _workload(stack: ServingStack, kubectl: Kubectl, api: KubeApiServer, receiver_port: int) -> None:
    """What the dashboards should show: the controller's jobs, webhooks, transcriptions, uploads, searches
    (`dhg up` already sent the sample through everything once)."""
    for name, spec in JOBS.items():
        kubectl.apply(job(name, **spec))
    headers = {"Authorization": f"Bearer {stack.admin_token}"}
    with httpx.Client(base_url=stack.url, headers=headers, timeout=60) as registry:
        for path in ("ok", "broken"):
            hook = {"url": f"http://127.0.0.1:{receiver_port}/{path}", "events": ["asset.created", "job.updated"]}
            assert registry.post("/v1/webhooks", json=hook).status_code == 201
        sample = SAMPLE / "sense-and-sensibility.opus"
        again = registry.post("/v1/assets", files={"file": (sample.name, sample.read_bytes())})  # de-duplicated
        assert again.status_code in {200, 201}, again.text
        for text in ("fish", "the sample", "nothing like this at all"):
            assert registry.get("/v1/search", params={"q": text}).status_code == 200
        assert registry.get("/v1/assets/not-a-uuid").status_code == 404
    asr_key = (stack.data_dir.root / "asr-api-key").read_text().strip()
    with httpx.Client(base_url=stack.asr_url, headers={"Authorization": f"Bearer {asr_key}"}, timeout=300) as asr:
        answer = asr.post("/v1/audio/transcriptions", files={"file": (sample.name, sample.read_bytes())})
        assert answer.status_code == 200, answer.text
        refused = asr.post("/v1/audio/transcriptions", files={"file": ("noise.wav", b"not audio at all")})
        assert refused.status_code in {400, 415, 422}, refused.text

    def finished() -> bool:
        items = kubectl.json("get", "tj")["items"]
        phases = {i["metadata"]["name"]: (i.get("status") or {}).get("phase") for i in items}
        return all(phases.get(name) in {"Succeeded", "Failed"} for name in JOBS)

    wait_for("every TranscriptionJob finished", finished, timeout=120)


def test_every_metric_name_in_rules_and_dashboards_is_one_a_scrape_returned(observed: Observed) -> None:
    recorded = {name for name, _ in rules.expressions() if ":" in name}
    used = {name for _, expr in rules.expressions() for name in metric_names(expr)}
    used |= {name for q in dashboards.queries() if q.datasource == "prometheus" for name in metric_names(q.expr)}
    missing = sorted(used - recorded - observed.scraped)
    assert not missing, f"named in rules or dashboards, never scraped: {missing}"


def test_every_rule_evaluates_and_prometheus_finds_every_rule_healthy(observed: Observed) -> None:
    for name, expr in rules.expressions():
        query(observed.prometheus, expr, what=name)  # parses and evaluates
    groups = httpx.get(f"{observed.prometheus}/api/v1/rules", timeout=30).json()["data"]["groups"]
    loaded = {rule["name"] for group in groups for rule in group["rules"]}
    assert loaded == {name for name, _ in rules.expressions()}
    unhealthy = {r["name"]: r.get("lastError") for g in groups for r in g["rules"] if r.get("health") != "ok"}
    assert not unhealthy, unhealthy


def test_every_dashboard_query_evaluates_and_every_traffic_panel_shows_a_series(observed: Observed) -> None:
    empty = []
    for panel in dashboards.queries():
        if panel.datasource != "prometheus":
            continue
        result = query(observed.prometheus, resolve(panel.expr), what=f"{panel.dashboard} / {panel.panel}:")
        if panel.traffic and not result:
            empty.append(f"{panel.dashboard} / {panel.panel}: {panel.expr}")
    assert not empty, "panels meant to show traffic that show nothing:\n" + "\n".join(empty)


def test_the_workload_reached_the_controllers_metrics(observed: Observed) -> None:
    """The panels above are only as good as the workload: the controller saw a fallback, a failure, a retry."""
    fallbacks = query(observed.prometheus, "sum(dhg_controller_gpu_fallbacks_total)")
    failed = query(observed.prometheus, 'sum(dhg_controller_jobs_finished_total{phase="Failed"})')
    retries = query(observed.prometheus, "sum by (reason) (dhg_controller_retries_total)")
    assert [float(r["value"][1]) for r in (*fallbacks, *failed)] == [1.0, 1.0]
    assert {r["metric"]["reason"]: float(r["value"][1]) for r in retries} == {"Transient": 1.0}
