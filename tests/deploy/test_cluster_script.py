"""charts/cluster.sh (`make cluster-up`, `make cluster-down`) with fake kind, make, buildah, kubectl and helm on PATH
recording their arguments: the cluster from kind-config.yaml, the images built and loaded, then charts/install.sh
with the kind values pointing at those images; --dry-run prints the same commands and runs none; shellcheck."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.charts.helm import find
from tests.deploy.cluster import KIND_CONFIG, KIND_VALUES, ROOT, pins, render_kind

SCRIPT = ROOT / "charts" / "cluster.sh"
INSTALL = ROOT / "charts" / "install.sh"
TOOLS = ("kind", "make", "buildah", "kubectl", "helm", "cloud-provider-kind")
FAKE = """#!/usr/bin/env python3
import json, os, sys
with open(os.environ["FAKE_CALLS"], "a") as calls:
    calls.write(json.dumps([os.path.basename(sys.argv[0]), *sys.argv[1:]]) + "\\n")
if sys.argv[1:3] == ["get", "clusters"]:
    print(os.environ.get("FAKE_CLUSTERS", ""))
"""
REFUSE = '#!/bin/sh\necho "$0 ran" >&2\nexit 1\n'


def fake_path(tmp_path: Path, body: str) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in TOOLS:
        (bin_dir / tool).write_text(body)
        (bin_dir / tool).chmod(0o755)
    calls = tmp_path / "calls.jsonl"
    calls.unlink(missing_ok=True)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE_CALLS": str(calls)}


def run_script(tmp_path: Path, *args: str, clusters: str = "", script: Path = SCRIPT) -> list[list[str]]:
    """Run the script with the recording fakes; return each call as [tool, *args]."""
    env = fake_path(tmp_path, FAKE) | {"FAKE_CLUSTERS": clusters}
    result = subprocess.run(["bash", str(script), *args], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    calls = Path(env["FAKE_CALLS"])
    return [json.loads(line) for line in calls.read_text().splitlines()] if calls.exists() else []


def our_images(*sets: str) -> set[str]:
    """The images of ours the chart runs on kind (charts/kind-values.yaml plus the script's --set)."""
    documents = render_kind(*sets)
    pods = [d["spec"]["template"]["spec"] for d in documents if "template" in d.get("spec", {})]
    images = {c["image"] for pod in pods for c in pod.get("initContainers", []) + pod["containers"]}
    (controller,) = find(documents, "Deployment", "dhg-controller")
    env = {e["name"]: e.get("value") for e in controller["spec"]["template"]["spec"]["containers"][0]["env"]}
    images |= {env["DHG_CONTROLLER_WORKER__IMAGE"], env["DHG_CONTROLLER_WORKER__GPU_IMAGE"]}
    return {image for image in images if image.startswith("ghcr.io/dhg-ai/")}


def step(call: list[str]) -> str:
    """A call's place in the sequence: create, images, push, load, install, ..."""
    tool, args = call[0], call[1:]
    if tool == "kind":
        return {"create": "create", "load": "load", "delete": "delete", "get": "query"}[args[0]]
    if tool == "make":
        return "images"
    if tool == "buildah":
        return "push"
    if tool == "helm":
        return "install"
    return tool


def option(call: list[str], name: str) -> list[str]:
    return [call[i + 1] for i, arg in enumerate(call[:-1]) if arg == name]


def test_up_creates_the_cluster_builds_loads_the_images_then_installs(tmp_path):
    calls = run_script(tmp_path, "up")
    order = [step(call) for call in calls if step(call) not in ("query", "kubectl")]
    first_install = order.index("install")
    assert order[:2] == ["create", "images"]
    assert set(order[2:first_install]) == {"push", "load"}
    assert all(s == "install" for s in order[first_install:])
    (create,) = [c for c in calls if step(c) == "create"]
    assert option(create, "--name") == ["dhg"] and option(create, "--config") == [str(KIND_CONFIG)]
    (make,) = [c for c in calls if c[0] == "make"]
    # Only what it loads (make's own ARGS, e.g. --dry-run, must not reach images.build).
    assert "images" in make and [a for a in make if a.startswith("ARGS=")] == ["ARGS=registry controller asr"]


def test_the_images_loaded_are_the_images_the_installed_chart_runs(tmp_path):
    calls = run_script(tmp_path, "up")
    pushed = {}
    for call in (c for c in calls if c[0] == "buildah"):
        archive = call[-1].removeprefix("docker-archive:")
        path, reference = archive.split(":", 1)
        assert reference == call[-2], "the archive carries the image's own reference"
        pushed[path] = reference
    loaded = [[*option(c, "--name"), c[3]] for c in calls if step(c) == "load"]
    assert all(name == "dhg" for name, _ in loaded)
    factory = [c for c in calls if c[0] == "helm" and c[1:3] == ["upgrade", "--install"]][-1]
    assert option(factory, "-f") == [str(KIND_VALUES)]
    sets = option(factory, "--set")
    assert {pushed[path] for _, path in loaded} == our_images(*sets)


def test_an_existing_cluster_is_kept(tmp_path):
    calls = run_script(tmp_path, "up", "--skip-images", clusters="other\ndhg")
    assert "create" not in [step(c) for c in calls]
    assert "images" not in [step(c) for c in calls]  # --skip-images
    assert "load" in [step(c) for c in calls]


def test_down_deletes_the_cluster(tmp_path):
    assert run_script(tmp_path, "down") == [["kind", "delete", "cluster", "--name", "dhg"]]


def test_arguments_after_the_separator_go_to_install_sh(tmp_path):
    calls = run_script(tmp_path, "up", "--", "--with-keda", "--set", "ingress.host=dhg.test")
    releases = [c[3] for c in calls if c[0] == "helm" and c[1:3] == ["upgrade", "--install"]]
    assert releases[-2:] == [pins()["KEDA_RELEASE"], "dhg"]
    factory = [c for c in calls if c[0] == "helm"][-1]
    assert "ingress.host=dhg.test" in option(factory, "--set")


def test_dry_run_prints_the_commands_in_order_and_runs_none(tmp_path):
    env = fake_path(tmp_path, REFUSE)
    result = subprocess.run(["bash", str(SCRIPT), "up", "--dry-run"], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert " ran" not in result.stderr
    printed = [shlex.split(line) for line in result.stdout.splitlines()]
    steps = [(line[0], line[1] if len(line) > 1 else "") for line in printed]
    assert steps[0] == ("kind", "create") and option(printed[0], "--config") == [str(KIND_CONFIG)]
    assert steps[1][0] == "make" and "images" in printed[1]
    loads = [i for i, s in enumerate(steps) if s == ("kind", "load")]
    assert len(loads) == 3 and loads[0] > 1
    assert printed[-1][0] == str(INSTALL) and option(printed[-1], "-f") == [str(KIND_VALUES)]
    assert loads[-1] < len(printed) - 1
    down = subprocess.run(["bash", str(SCRIPT), "down", "--dry-run"], env=env, capture_output=True, text=True)
    assert [shlex.split(line) for line in down.stdout.splitlines()] == [["kind", "delete", "cluster", "--name", "dhg"]]


def test_an_unknown_command_or_flag_fails_with_the_usage(tmp_path):
    env = fake_path(tmp_path, REFUSE)
    for args in (["sideways"], ["up", "--colour"], []):
        result = subprocess.run(["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True)
        assert result.returncode == 2, args
        assert "cluster.sh up" in result.stderr


def test_install_sh_monitoring_only_stops_before_the_factory(tmp_path):
    calls = run_script(tmp_path, "--monitoring-only", script=INSTALL)
    releases = [c[3] for c in calls if c[1:3] == ["upgrade", "--install"]]
    pin = pins()
    assert releases == [pin["KUBE_PROMETHEUS_STACK_RELEASE"], pin["LOKI_RELEASE"], pin["ALLOY_RELEASE"]]


def test_make_cluster_up_and_down_run_the_script():
    makefile = (ROOT / "Makefile").read_text()
    assert "\ncluster-up:\n\tcharts/cluster.sh up $(ARGS)\n" in makefile
    assert "\ncluster-down:\n\tcharts/cluster.sh down $(ARGS)\n" in makefile
    phony = next(line for line in makefile.splitlines() if line.startswith(".PHONY:")).split()
    assert {"cluster-up", "cluster-down"} <= set(phony)


@pytest.mark.parametrize("script", [SCRIPT, INSTALL], ids=lambda p: p.name)
def test_the_scripts_are_shellcheck_clean_and_executable(script):
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.fail("shellcheck is not installed (apt-get install shellcheck; make system-packages)")
    result = subprocess.run([shellcheck, "-x", str(script)], capture_output=True, text=True, cwd=script.parent)
    assert result.returncode == 0, result.stdout
    assert os.access(script, os.X_OK)
