"""charts/install.sh with a fake `helm` on PATH that records its arguments: the order, namespaces, pinned versions,
values files and the factory's release label; plus shellcheck."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "charts" / "install.sh"
OBSERVABILITY = ROOT / "charts" / "observability"
FAKE_HELM = """#!/usr/bin/env python3
import json, os, sys
with open(os.environ["HELM_CALLS"], "a") as calls:
    calls.write(json.dumps(sys.argv[1:]) + "\\n")
"""


def pins() -> dict[str, str]:
    """versions.env as a dict: the one place the charts are pinned."""
    entries = {}
    for line in (OBSERVABILITY / "versions.env").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            entries[key] = value
    return entries


def run_install(tmp_path: Path, *args: str) -> list[list[str]]:
    """Run the script with the fake helm; return each helm call's arguments."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    helm = bin_dir / "helm"
    helm.write_text(FAKE_HELM)
    helm.chmod(0o755)
    calls = tmp_path / "calls.jsonl"
    calls.unlink(missing_ok=True)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "HELM_CALLS": str(calls)}
    result = subprocess.run(["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    if not calls.exists():
        return []
    return [json.loads(line) for line in calls.read_text().splitlines()]


def installs(calls: list[list[str]]) -> list[list[str]]:
    return [call for call in calls if call[:2] == ["upgrade", "--install"]]


def option(call: list[str], name: str) -> list[str]:
    """Every value given to `name` (`--set` and `-f` may repeat)."""
    return [call[i + 1] for i, arg in enumerate(call[:-1]) if arg == name]


def test_monitoring_first_then_the_factory_each_pinned_and_waited_for(tmp_path: Path) -> None:
    pin = pins()
    calls = installs(run_install(tmp_path))
    assert [call[2] for call in calls] == [
        pin["KUBE_PROMETHEUS_STACK_RELEASE"],
        pin["LOKI_RELEASE"],
        pin["ALLOY_RELEASE"],
        "dhg",
    ]
    expected = [
        ("KUBE_PROMETHEUS_STACK", "kube-prometheus-stack-values.yaml"),
        ("LOKI", "loki-values.yaml"),
        ("ALLOY", "alloy-values.yaml"),
    ]
    for call, (name, values) in zip(calls, expected, strict=False):
        assert call[3] == f"{pin[name + '_REPO_NAME']}/{pin[name + '_CHART']}"
        assert option(call, "--version") == [pin[name + "_VERSION"]]
        assert option(call, "--namespace") == [pin["MONITORING_NAMESPACE"]]
        assert option(call, "-f") == [str(OBSERVABILITY / values)]
    for call in calls:
        assert "--wait" in call
        assert "--create-namespace" in call


def test_the_factory_is_last_with_the_release_label_prometheus_selects(tmp_path: Path) -> None:
    factory = installs(run_install(tmp_path))[-1]
    assert factory[2:4] == ["dhg", str(ROOT / "charts" / "dhg-factory")]
    assert option(factory, "--namespace") == ["dhg"]
    assert f"monitoring.labels.release={pins()['KUBE_PROMETHEUS_STACK_RELEASE']}" in option(factory, "--set")
    assert "--version" not in factory  # our own chart, from this checkout


def test_the_repositories_are_added_before_any_install(tmp_path: Path) -> None:
    pin = pins()
    calls = run_install(tmp_path)
    added = {call[-2]: call[-1] for call in calls if call[:2] == ["repo", "add"]}
    assert added == {
        pin[f"{name}_REPO_NAME"]: pin[f"{name}_REPO_URL"] for name in ("KUBE_PROMETHEUS_STACK", "LOKI", "ALLOY")
    }
    first_install = calls.index(installs(calls)[0])
    assert calls.index(["repo", "update"]) < first_install
    assert all(call[:2] != ["repo", "add"] for call in calls[first_install:])


def test_keda_only_when_asked_before_the_factory_which_then_scales_with_it(tmp_path: Path) -> None:
    pin = pins()
    without = installs(run_install(tmp_path))
    assert all(pin["KEDA_CHART"] not in " ".join(call) for call in without)
    assert "autoscaling.keda.enabled=true" not in option(without[-1], "--set")

    calls = installs(run_install(tmp_path, "--with-keda"))
    releases = [call[2] for call in calls]
    assert releases[-2:] == [pin["KEDA_RELEASE"], "dhg"]
    keda = calls[-2]
    assert keda[3] == f"{pin['KEDA_REPO_NAME']}/{pin['KEDA_CHART']}"
    assert option(keda, "--version") == [pin["KEDA_VERSION"]]
    assert option(keda, "--namespace") == [pin["KEDA_NAMESPACE"]]
    assert "autoscaling.keda.enabled=true" in option(calls[-1], "--set")


def test_extra_arguments_go_to_the_factory_only(tmp_path: Path) -> None:
    args = ["--namespace", "factory", "--release", "prod", "--set", "ingress.host=dhg.example.com", "-f", "mine.yaml"]
    calls = installs(run_install(tmp_path, *args))
    factory = calls[-1]
    assert factory[2] == "prod"
    assert option(factory, "--namespace") == ["factory"]
    assert "ingress.host=dhg.example.com" in option(factory, "--set")
    assert option(factory, "-f") == ["mine.yaml"]
    # The label Prometheus selects on comes first, so a user's own --set can still override it.
    assert option(factory, "--set")[0].startswith("monitoring.labels.release=")
    for call in calls[:-1]:
        assert "mine.yaml" not in call
        assert "ingress.host=dhg.example.com" not in call


def test_dry_run_prints_the_commands_and_runs_none(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    helm = bin_dir / "helm"
    helm.write_text("#!/bin/sh\necho helm ran >&2\nexit 1\n")
    helm.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    result = subprocess.run(["bash", str(SCRIPT), "--dry-run"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    printed = [line.split() for line in result.stdout.splitlines()]
    assert [line[3] for line in printed if line[1:3] == ["upgrade", "--install"]] == [
        pins()["KUBE_PROMETHEUS_STACK_RELEASE"],
        pins()["LOKI_RELEASE"],
        pins()["ALLOY_RELEASE"],
        "dhg",
    ]
    assert "helm ran" not in result.stderr


def test_running_twice_issues_the_same_idempotent_commands(tmp_path: Path) -> None:
    first, second = run_install(tmp_path), run_install(tmp_path)
    assert first == second
    assert all(call[:2] == ["upgrade", "--install"] for call in installs(first))  # never a bare `helm install`
    assert all(call[0] in ("repo", "upgrade") for call in first)


def test_an_unset_pin_stops_the_script(tmp_path: Path) -> None:
    """set -u: a version missing from versions.env fails instead of installing an unpinned chart."""
    copy = tmp_path / "charts"
    shutil.copytree(ROOT / "charts" / "observability", copy / "observability")
    shutil.copy(SCRIPT, copy / "install.sh")
    versions = copy / "observability" / "versions.env"
    versions.write_text(versions.read_text().replace("LOKI_VERSION=", "LOKI_VERSION_UNUSED="))
    result = subprocess.run(["bash", str(copy / "install.sh"), "--dry-run"], capture_output=True, text=True)
    assert result.returncode != 0
    assert "LOKI_VERSION" in result.stderr


def test_make_cluster_runs_the_script() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "\ncluster:\n\tcharts/install.sh $(ARGS)\n" in makefile
    phony = next(line for line in makefile.splitlines() if line.startswith(".PHONY:"))
    assert "cluster" in phony.split()


def test_the_script_is_shellcheck_clean() -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.fail("shellcheck is not installed (apt-get install shellcheck; make system-packages)")
    result = subprocess.run([shellcheck, "-x", str(SCRIPT)], capture_output=True, text=True, cwd=SCRIPT.parent)
    assert result.returncode == 0, result.stdout
