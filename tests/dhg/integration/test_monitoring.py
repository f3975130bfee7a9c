"""`dhg up --monitoring`: a real Prometheus beside the local stack, with the chart's rules, scraping both
services; `dhg status` shows what fires."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from dhg import monitoring
from dhg.datadir import read_state
from observability.rules import rule_files
from tests.dhg.integration.conftest import serve
from tests.dhg.runner import assert_one_line_error, free_ports, run_dhg


def _get(url: str) -> Any:
    response = httpx.get(url, timeout=5)
    response.raise_for_status()
    return response.json()["data"]


def _wait(what: str, check: Any, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if result := check():
                return result
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"{what}: not within {timeout} s")


def test_up_with_monitoring_scrapes_both_services_with_the_charts_rules(tmp_path: Path) -> None:
    (port,) = free_ports(1)
    stack = serve(tmp_path / "data", tmp_path / "up.out", DHG_MONITORING="true", DHG_PROMETHEUS_PORT=str(port))
    url = f"http://127.0.0.1:{port}"
    try:
        assert f"monitored by Prometheus on {url}" in stack.output()
        state = read_state(stack.data_dir)
        assert state is not None and state.prometheus_url == url and state.prometheus_pid
        groups = _get(f"{url}/api/v1/rules")["groups"]
        expected = {group["name"] for document in rule_files().values() for group in document["groups"]}
        assert {group["name"] for group in groups} == expected

        def targets_up() -> set[tuple[str, str]]:
            active = _get(f"{url}/api/v1/targets")["activeTargets"]
            up = {(t["labels"]["job"], t["labels"]["namespace"]) for t in active if t["health"] == "up"}
            return up if up == {("registry", "local"), ("asr", "local")} else set()

        _wait("both services scraped", targets_up)
        status = run_dhg("status", "--data-dir", stack.data_dir.root)
        assert status.returncode == 0, status.stdout + status.stderr
        assert f"Prometheus   {url}: " in status.stdout and "firing" in status.stdout

        os.kill(state.prometheus_pid, signal.SIGKILL)  # supervised like the other parts: back, scraping again
        _wait("Prometheus restarted", lambda: "Prometheus is running again" in stack.output())
        assert "Prometheus was killed by SIGKILL; restarting it" in stack.output()
        restarted = read_state(stack.data_dir)
        assert restarted is not None and restarted.prometheus_pid not in (None, state.prometheus_pid)
        _wait("both services scraped again", targets_up)
    finally:
        assert stack.stop() == 0
    assert read_state(stack.data_dir) is None
    try:
        httpx.get(f"{url}/-/ready", timeout=2)
    except httpx.ConnectError:
        pass
    else:
        raise AssertionError("Prometheus still answers after `dhg up` stopped")


def test_status_lists_the_alerts_firing_in_prometheus(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    always = {"alert": "AlwaysFiring", "expr": "vector(1)", "labels": {"severity": "critical"}}
    rules.write_text(
        yaml.safe_dump({"groups": [{"name": "t", "rules": [{**always, "annotations": {"summary": "on"}}]}]})
    )
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump(monitoring.scrape_config({}, rule_files=[rules], interval="1s")))
    (port,) = free_ports(1)
    address = f"127.0.0.1:{port}"
    import subprocess

    process = subprocess.Popen(
        [str(monitoring.find_prometheus()), *monitoring.prometheus_arguments(config, tmp_path / "tsdb", address)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://{address}"
        _wait("the alert fires", lambda: monitoring.firing_alerts(url))
        status = run_dhg(
            "status", "--data-dir", tmp_path / "data", "--prometheus-url", url,
            "--registry-url", "http://127.0.0.1:9", "--asr-url", "http://127.0.0.1:9",
        )  # fmt: skip
        assert status.returncode == 1  # the services are not there
        assert f"Prometheus   {url}: 1 alert(s) firing" in status.stdout, status.stdout
        assert "critical  AlwaysFiring: on" in status.stdout, status.stdout
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_up_with_monitoring_and_no_prometheus_is_a_one_line_error(tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    registry_port, asr_port = free_ports(2)
    result = run_dhg(
        "up", "--monitoring", "--exit-after-sample", "--data-dir", tmp_path / "data",
        "--registry-port", str(registry_port), "--asr-port", str(asr_port), PATH=str(empty),
    )  # fmt: skip
    assert_one_line_error(result, "Prometheus", "apt-get install prometheus")
    assert not (tmp_path / "data" / "postgres").exists()  # nothing started
