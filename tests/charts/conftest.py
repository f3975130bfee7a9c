"""Shared work of the chart checks: the `scenario` parameter (every ci/*-values.yaml), the worker Jobs each
scenario's controller would create, and a checkov scan of each scenario, run once per session."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller import manifests
from controller.model import TranscriptionJob
from controller.settings import Settings
from tests.charts.helm import NAMESPACE, REPOSITORY, Scenario, find, render_scenario, rendered_text, scenarios
from tests.controller.schema import EXAMPLES

CHECKOV = REPOSITORY / ".tools" / "checkov" / "bin" / "checkov"
PREFIX = "DHG_CONTROLLER_"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """`scenario`: every ci/*-values.yaml of the chart (the plain defaults when there are none)."""
    if "scenario" in metafunc.fixturenames:
        found = scenarios()
        metafunc.parametrize("scenario", found, ids=[s.name for s in found])


def controller_settings(documents: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The controller's Settings as the rendered controller Deployment sets them (its env)."""
    deployments = [d for d in find(documents, "Deployment") if d["metadata"]["name"].endswith("-controller")]
    assert len(deployments) == 1, "the chart renders one controller Deployment"
    (container,) = deployments[0]["spec"]["template"]["spec"]["containers"]
    for name in [n for n in os.environ if n.startswith(PREFIX)]:
        monkeypatch.delenv(name)
    for variable in container.get("env") or []:
        if variable["name"].startswith(PREFIX) and "value" in variable:
            monkeypatch.setenv(variable["name"], variable["value"])
    return Settings()


def worker_jobs(documents: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The batch/v1 Jobs the controller would create for a job on each placement (with a data volume mounted), in
    the first namespace it watches (the release's when it watches the whole cluster)."""
    settings = controller_settings(documents, monkeypatch)
    config = settings.worker.model_copy(update={"data_claim": settings.worker.data_claim or "media-library"})
    document = yaml.safe_load(next(p for p in EXAMPLES if p.name == "auto-fallback.yaml").read_text())
    document["metadata"] |= {"namespace": (settings.namespaces or [NAMESPACE])[0], "uid": str(uuid.uuid4())}
    job = TranscriptionJob.model_validate(document)
    return [manifests.build_job(job, placement, 1, config) for placement in ("gpu", "cpu")]


@pytest.fixture
def scenario_worker_jobs(scenario: Scenario, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    return worker_jobs(render_scenario(scenario), monkeypatch)


def _write_scan_input(scenario: Scenario, directory: Path) -> None:
    """The scenario as chart.yaml, the worker Jobs its controller would create as workers.yaml."""
    directory.mkdir()
    (directory / "chart.yaml").write_text(rendered_text(scenario))
    with pytest.MonkeyPatch.context() as monkeypatch:
        jobs = worker_jobs(render_scenario(scenario), monkeypatch)
    (directory / "workers.yaml").write_text(yaml.safe_dump_all(jobs))


def _checkov(directory: Path) -> subprocess.Popen[str]:
    command = [str(CHECKOV), "--directory", str(directory), "--framework", "kubernetes", "--output", "json"]
    command += ["--skip-download", "--quiet", "--compact"]
    environment = os.environ | {"CKV_SKIP_PACKAGE_UPDATE_CHECK": "true", "BC_SKIP_MAPPING": "TRUE"}
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment)


def _failed_checks(process: subprocess.Popen[str]) -> list[dict[str, Any]]:
    stdout, stderr = process.communicate(timeout=600)
    if process.returncode not in (0, 1):  # 1: some check failed
        raise AssertionError(f"checkov exited {process.returncode}:\n{stderr[-3000:]}")
    report = json.loads(stdout) if stdout.strip() else {}
    reports = report if isinstance(report, list) else [report]
    return [check for part in reports for check in (part.get("results") or {}).get("failed_checks") or []]


@pytest.fixture(scope="session")
def checkov_failures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]] | str]:
    """checkov's failed checks on each scenario (the chart and its worker Jobs), or why it could not be scanned.
    One checkov per scenario: its graph checks match labels across everything it scans, namespaces and files
    alike, so scenarios scanned together would hide each other's gaps. They run side by side, a few at a time."""
    if not CHECKOV.exists():
        pytest.fail(f"checkov is missing at {CHECKOV}: run `make tools`")
    root = tmp_path_factory.mktemp("checkov")
    found: dict[str, list[dict[str, Any]] | str] = {}
    pending = []
    for scenario in scenarios():
        try:
            _write_scan_input(scenario, root / scenario.name)
        except AssertionError as error:
            found[scenario.name] = f"not rendered: {error}"
        else:
            pending.append(scenario.name)
    running: dict[str, subprocess.Popen[str]] = {}
    while pending or running:
        while pending and len(running) < (os.cpu_count() or 1):
            name = pending.pop(0)
            running[name] = _checkov(root / name)
        name = next(iter(running))
        found[name] = _failed_checks(running.pop(name))
    return found
