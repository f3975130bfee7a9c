"""The Tiltfile, evaluated by Starlark with stub Tilt built-ins: the paths it names exist, it builds exactly the
images the chart runs, its port forwards reach Service ports, its resources are ordered and labelled, the workers the
controller launches run the image Tilt just built, live update reaches the running processes, monitoring is opt-in."""

from __future__ import annotations

import itertools
import os
import re
import shlex
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from controller.settings import Settings
from tests.deploy.cluster import pins, render_kind
from tests.deploy.tilt import ROOT, Tilt, evaluate

ORDER = ["postgres", "registry", "asr", "controller"]
WORKLOADS = {"postgres": "dhg-postgresql", "registry": "dhg-registry", "asr": "dhg-asr", "controller": "dhg-controller"}
OURS = "ghcr.io/dhg-ai/"
# The Grafana Service of kube-prometheus-stack 88.5.3: its grafana subchart 12.11.1 names it <release>-grafana and
# serves on port 80 (charts/grafana/values.yaml `service.port`, grafana-community/helm-charts tag grafana-12.11.1).
GRAFANA_SERVICE_PORT = 80


@pytest.fixture(scope="module", params=[False, True], ids=["plain", "monitoring"])
def tilt(request) -> Tilt:
    return evaluate({"monitoring": True} if request.param else {})


@pytest.fixture(scope="module")
def plain() -> Tilt:
    return evaluate()


def repository(reference: str) -> str:
    """The image's name without tag or digest (what Tilt matches a build's ref against)."""
    name = reference.split("@")[0]
    return name.rsplit(":", 1)[0] if ":" in name.rsplit("/", 1)[-1] else name


def containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    spec = obj.get("spec", {}).get("template", {}).get("spec", {})
    return spec.get("initContainers", []) + spec.get("containers", [])


def images_in(objects: list[dict[str, Any]]) -> set[str]:
    return {c["image"] for o in objects for c in containers(o)}


def env_of(obj: dict[str, Any]) -> dict[str, str]:
    (main,) = obj["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e["value"] for e in main.get("env", []) if "value" in e}


def injected(tilt: Tilt, obj: dict[str, Any]) -> dict[str, str]:
    """The container env as Tilt applies it: a value naming a build with match_in_env_vars becomes the built ref."""
    env = env_of(obj)
    for build in tilt.builds:
        if build.get("match_in_env_vars"):
            for name, value in env.items():
                if repository(value) == build["ref"]:
                    env[name] = build["ref"] + ":tilt-0123456789abcdef"
    return env


def referenced_paths(tilt: Tilt) -> list[str]:
    paths = ["Tiltfile"]
    for build in tilt.builds:
        paths += build.get("deps", []) + ([build["context"]] if "context" in build else [])
        paths += [step["local"] for step in build.get("live_update", []) if step["step"] == "sync"]
        command = shlex.split(build.get("command", "").replace('"$(', " ").replace(')"', " "))
        paths += [command[i + 1] for i, word in enumerate(command[:-1]) if word == "-f"]  # Dockerfiles
        paths += [m.replace(".", "/") + ".py" for m in re.findall(r"-m (\w+(?:\.\w+)+)", build.get("command", ""))]
    for chart in tilt.charts:
        paths += [chart["chart"], *chart["values"]]
    for resource in tilt.local_resources:
        paths += [word for word in shlex.split(resource.get("cmd") or "") if "/" in word]
    return paths


def test_every_path_the_tiltfile_names_exists(tilt):
    paths = referenced_paths(tilt)
    assert "charts/dhg-factory" in paths and "images/asr/Dockerfile" in paths
    missing = [p for p in paths if not (ROOT / p).exists()]
    assert not missing, f"the Tiltfile names paths that do not exist: {missing}"


def test_it_builds_exactly_the_images_of_ours_the_chart_runs(tilt):
    built = {build["ref"] for build in tilt.builds}
    used = {repository(image) for image in images_in(tilt.objects) if image.startswith(OURS)}
    assert built == used, "every image Tilt builds is one the rendered chart runs, and every one of ours is built"
    for build in tilt.builds:
        dockerfile = re.search(r"-f (\S+)", build["command"])[1]
        assert (ROOT / dockerfile).parent.name in build["ref"]  # images/<name>/Dockerfile builds factory-<name>


def service_ports(objects: list[dict[str, Any]], workload: dict[str, Any]) -> set[int]:
    """The container ports that Services selecting the workload's pods forward to."""
    labels = workload["spec"]["template"]["metadata"]["labels"]
    named = {p["name"]: p["containerPort"] for c in containers(workload) for p in c.get("ports", []) if "name" in p}
    found = set()
    for service in (o for o in objects if o["kind"] == "Service"):
        selector = service["spec"].get("selector") or {}
        if selector and all(labels.get(k) == v for k, v in selector.items()):
            for port in service["spec"]["ports"]:
                target = port.get("targetPort", port["port"])
                found.add(named[target] if isinstance(target, str) else target)
    return found


def test_every_port_forward_reaches_a_service_port_of_its_workload(tilt):
    forwards = {r["name"]: r.get("port_forwards") or [] for r in tilt.resources}
    assert forwards["registry"] and forwards["asr"], "the Registry and the ASR service are forwarded"
    for resource in tilt.resources:
        for forward in resource.get("port_forwards") or []:
            ports = service_ports(tilt.objects, tilt.workload(resource["workload"]))
            assert forward["container_port"] in ports, f"{resource['name']}: {forward} is no Service port ({ports})"


def test_grafana_is_forwarded_from_the_service_kube_prometheus_stack_creates():
    tilt = evaluate({"monitoring": True})
    grafana = tilt.resource("grafana")
    command = shlex.split(grafana["serve_cmd"])
    pin = pins()
    assert command[:4] == ["kubectl", "-n", pin["MONITORING_NAMESPACE"], "port-forward"]
    assert command[4] == f"svc/{pin['KUBE_PROMETHEUS_STACK_RELEASE']}-grafana"
    local, remote = (int(port) for port in command[5].split(":"))
    assert remote == GRAFANA_SERVICE_PORT
    assert [link["url"] for link in grafana["links"]] == [f"http://localhost:{local}"]
    assert grafana["resource_deps"] == ["monitoring"]


def test_resources_run_in_order_postgres_registry_asr_controller_each_labelled(tilt):
    for before, after in itertools.pairwise(ORDER):
        assert tilt.resource(after)["resource_deps"] == [before]
    for resource in tilt.resources + tilt.local_resources:
        assert resource.get("labels"), f"{resource['name']} has no label"
    for name, workload in WORKLOADS.items():
        assert tilt.resource(name)["workload"] == workload
        tilt.workload(workload)  # the chart renders it
    named = {r["workload"] for r in tilt.resources}
    unnamed = [
        o["metadata"]["name"]
        for o in tilt.objects
        if "template" in o.get("spec", {}) and o["metadata"]["name"] not in named
    ]
    assert not unnamed, f"workloads without a named, labelled resource: {unnamed}"


def test_the_workers_the_controller_launches_run_the_asr_image_tilt_built(plain, monkeypatch):
    asr = plain.build(OURS + "factory-asr")
    assert asr.get("match_in_env_vars"), "Tilt puts its asr build's reference into the controller's environment"
    (asr_container,) = plain.workload("dhg-asr")["spec"]["template"]["spec"]["containers"]
    assert repository(asr_container["image"]) == asr["ref"]
    env = injected(plain, plain.workload("dhg-controller"))
    for name in [n for n in os.environ if n.startswith("DHG_CONTROLLER_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    worker = Settings().worker  # what the controller reads from that environment
    assert worker.image.startswith(asr["ref"] + ":tilt-")
    assert worker.gpu_image == worker.image  # kind has no CUDA image: GPU workers run the same build
    assert not asr.get("live_update"), "a live update would leave the workers' image behind the service's code"


def test_live_update_syncs_the_packages_into_a_writable_path_first_on_pythonpath(plain):
    for ref, workload in ((OURS + "factory-registry", "dhg-registry"), (OURS + "factory-controller", "dhg-controller")):
        steps = plain.build(ref)["live_update"]
        syncs = [s for s in steps if s["step"] == "sync"]
        assert syncs and steps[-1]["step"] == "run"
        deployment = plain.workload(workload)
        (main,) = deployment["spec"]["template"]["spec"]["containers"]
        (pythonpath,) = [e["value"] for e in main["env"] if e["name"] == "PYTHONPATH"]
        mounts = {m["mountPath"]: m["name"] for m in main["volumeMounts"]}
        volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
        assert "emptyDir" in volumes[mounts[pythonpath]], "synced files land on a writable volume"
        loop = main["command"][2]
        for step in syncs:
            assert (ROOT / step["local"] / "__init__.py").exists(), "a Python package of this repository"
            assert step["local"] in plain.build(ref)["deps"]
            assert step["remote"] == f"{pythonpath}/{step['local']}"
            assert re.search(rf"for package in [\w ]*\b{step['local']}\b", loop), "the loop copies it in first"
        assert f"{pythonpath}/pid" in steps[-1]["cmd"] and f"{pythonpath}/pid" in loop
        (chart,) = [d for d in render_kind() if d["kind"] == "Deployment" and d["metadata"]["name"] == workload]
        (original,) = chart["spec"]["template"]["spec"]["containers"]
        assert main["command"] == ["sh", "-c", loop, "dev-loop", *original["command"]], "the chart's command, wrapped"


def gone(pid: int, timeout: float = 10) -> bool:
    """The process has exited (or is a zombie waiting for its new parent to reap it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


def test_the_dev_loop_restarts_the_process_when_killed_and_stops_on_sigterm(plain, tmp_path):
    """The loop the Tiltfile wraps around a live-updated container's command, run here with sh and Python."""
    (main,) = plain.workload("dhg-controller")["spec"]["template"]["spec"]["containers"]
    (pythonpath,) = [e["value"] for e in main["env"] if e["name"] == "PYTHONPATH"]
    loop = main["command"][2].replace(pythonpath, str(tmp_path))
    pid_file = tmp_path / "pid"

    def wait_for_pid(old: str | None) -> str:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if pid_file.exists() and pid_file.read_text().strip() not in ("", old):
                return pid_file.read_text().strip()
            time.sleep(0.05)
        raise AssertionError("the loop did not (re)start the process")

    process = subprocess.Popen(["sh", "-c", loop, "dev-loop", "python3", "-c", "import time; time.sleep(60)"])
    try:
        first = wait_for_pid(None)
        subprocess.run(["sh", "-c", f"kill $(cat {pid_file})"], check=True)  # what the live update's run step does
        second = wait_for_pid(first)
        assert second != first
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        assert gone(int(second)), "the loop ends its process when the pod stops"
    finally:
        process.kill()


def test_monitoring_is_opt_in_and_its_monitors_wait_for_the_stack():
    plain = evaluate()
    assert not {o["kind"] for o in plain.objects} & {"ServiceMonitor", "PrometheusRule"}
    assert not plain.local_resources
    with_monitoring = evaluate({"monitoring": True})
    stack = with_monitoring.resource("monitoring")
    assert shlex.split(stack["cmd"]) == ["charts/install.sh", "--monitoring-only"]
    monitors = with_monitoring.resource("monitors")
    expected = {f"{o['metadata']['name']}:{o['kind'].lower()}" for o in with_monitoring.objects
                if o["kind"] in ("ServiceMonitor", "PrometheusRule")}  # fmt: skip
    assert expected and set(monitors["objects"]) == expected
    assert monitors["resource_deps"] == ["monitoring"]


def test_the_tiltfile_deploys_to_the_kind_cluster_only(plain):
    assert plain.contexts == ["kind-dhg"]  # kind names the context kind-<cluster>: kind-config.yaml's `dhg`
    (chart,) = plain.charts
    assert chart["values"] == ["charts/kind-values.yaml"] and chart["name"] == chart["namespace"] == "dhg"
    namespaces = [o for o in plain.objects if o["kind"] == "Namespace"]
    assert [n["metadata"]["name"] for n in namespaces] == ["dhg"]


def test_the_tiltfile_is_short():
    assert len(Path(ROOT / "Tiltfile").read_text().splitlines()) <= 100
