"""The controller as the chart deploys it: the chart's CRDs, ServiceAccount, RBAC and peering object applied with
real kubectl; two replicas of the Deployment's command (`python -m controller`) with the Deployment's
environment, each logged in as the chart's ServiceAccount over HTTPS, so the test API enforces the chart's
ClusterRoles. Then:

- the replicas peer: one acts, the other pauses; when the active one stops, the other takes over;
- a workload that needs every verb (GPU → CPU fallback deletes a Job, retries, Events, deletion through the
  finalizer, Registry records) runs to the end with no request refused;
- what the controller used is exactly what the chart grants: no verb missing, none to spare."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from dhg.postgres import free_port
from kubesim import GPU_TAINT, rbac
from kubesim.auth import service_account_username
from kubesim.waiting import wait_until
from tests.charts.helm import find, render
from tests.conftest import RunningServer, start_registry
from tests.controller.integration.support import FAKE_WORKER, delete_while_running, finished, job, worker_jobs

NAMESPACE = "dhg"
RELEASE = "dhg"
SERVED = {
    "CustomResourceDefinition",
    "ServiceAccount",
    "ClusterRole",
    "ClusterRoleBinding",
    "RoleBinding",
    "ClusterKopfPeering",
    "KopfPeering",
    "Secret",
}
# What the chart renders that the test API does not serve: the services run here as processes (the controller's
# Deployment), or need a real cluster (storage, scheduling policy, networking, the monitoring stack's kinds and
# the dashboards' ConfigMaps, which only its Grafana reads).
NOT_SERVED = {
    "Deployment",
    "StatefulSet",
    "Service",
    "PersistentVolumeClaim",
    "PodDisruptionBudget",
    "HorizontalPodAutoscaler",
    "Ingress",
    "NetworkPolicy",
    "PriorityClass",
    "ServiceMonitor",
    "PrometheusRule",
    "ConfigMap",
}
CONTROLLER = "dhg-controller"
# Cluster-wide (a ClusterKopfPeering, ClusterRoleBindings), or watching one namespace (a KopfPeering and a
# RoleBinding there; Kopf then also watches namespaces).
MODES = {"cluster-wide": [], "namespaced": ["controller.watchNamespaces={default}"]}


@pytest.fixture(params=sorted(MODES))
def chart(request, kube_api, kubectl) -> list[dict[str, Any]]:
    """The chart rendered and applied (what the test API serves of it: not the Deployment and Service, which
    the test runs as processes)."""
    documents = apply_chart(kube_api, kubectl, *MODES[request.param])
    workers = [s for s in find(documents, "Secret") if s["metadata"]["name"] == "dhg-worker-registry-token"]
    if request.param == "namespaced":  # the chart writes the workers' token Secret where their jobs run
        assert [s["metadata"]["namespace"] for s in workers] == ["default"]
    else:  # cluster-wide, it writes it in its own namespace; other namespaces copy it (NOTES.txt says so)
        assert [s["metadata"]["namespace"] for s in workers] == [NAMESPACE]
        (secret,) = workers
        kubectl.apply({**secret, "metadata": {"name": secret["metadata"]["name"], "namespace": "default"}})
    return documents


def apply_chart(kube_api, kubectl, *sets: str) -> list[dict[str, Any]]:
    """Render the chart with `sets` and apply what the test API serves of it, its namespaces first."""
    documents = render(*sets, namespace=NAMESPACE, release=RELEASE)
    kube_api.api.enforce_owner_references = True  # as OpenShift does: the strictest RBAC a cluster asks for
    kubectl.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
    kinds = {d["kind"] for d in documents}
    assert kinds >= {"CustomResourceDefinition", "ServiceAccount", "ClusterRole", "ClusterRoleBinding"}, kinds
    assert kinds <= SERVED | NOT_SERVED, kinds
    for document in (d for d in documents if d["kind"] == "CustomResourceDefinition"):
        kubectl.apply(document)  # first, so that the ClusterKopfPeering's type exists
    for namespace in {d["metadata"].get("namespace") for d in documents} - {None, NAMESPACE, "default"}:
        kubectl.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    for document in (d for d in documents if d["kind"] in SERVED - {"CustomResourceDefinition"}):
        kubectl.apply(document)
    return documents


class Replica:
    """One `python -m controller` process, as a pod of the chart's Deployment would run it."""

    def __init__(self, name: str, env: dict[str, str], workdir: Path) -> None:
        self.name = name
        self.liveness = f"http://127.0.0.1:{env['DHG_CONTROLLER_LIVENESS_PORT']}/healthz"
        self.metrics = f"http://127.0.0.1:{env['DHG_CONTROLLER_METRICS_PORT']}/metrics"
        self.log_path = workdir / f"{name}.log"
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "controller"], env=env, stdout=self._log, stderr=subprocess.STDOUT
        )

    def log(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log_path.read_text().splitlines() if line.startswith("{")]

    def said(self, text: str) -> bool:
        return any(text in record["msg"] for record in self.log())

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        return self.process.returncode


def chart_secret(chart: list[dict[str, Any]], key: str) -> str:
    """A value of the Secret the chart generates (secrets.create)."""
    (secret,) = [s for s in find(chart, "Secret") if s["metadata"]["name"] == RELEASE]
    return base64.b64decode(secret["data"][key]).decode()


@pytest.fixture
def chart_registry(postgres, tmp_path, chart) -> Iterator[RunningServer]:
    """A Registry that knows the service tokens of the chart's Secret, as the chart's Registry pods read them."""
    tokens = {name: chart_secret(chart, f"{name}-registry-token") for name in ("asr", "controller", "worker")}
    server = start_registry(
        postgres.create_database(f"chart_{uuid.uuid4().hex[:8]}"), tmp_path / "media", service_tokens=tokens
    )
    yield server
    server.stop()


@pytest.fixture
def admin(chart_registry) -> Iterator[httpx.Client]:
    with chart_registry.client(chart_registry.admin_token) as client:
        yield client


@pytest.fixture
def deployment_env(kube_api, chart, chart_registry, tmp_path) -> dict[str, str]:
    """The Deployment's environment, with what a pod would have instead: the ServiceAccount's credentials, the
    Registry token Secret's value, and the test's worker (the fake one; its scratch off /tmp, see conftest)."""
    (deployment,) = find(chart, "Deployment", CONTROLLER)
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["python", "-m", "controller"]
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    env |= {
        "DHG_CONTROLLER_REGISTRY_URL": chart_registry.url,
        "DHG_CONTROLLER_REGISTRY_TOKEN": chart_secret(chart, "controller-registry-token"),
        "DHG_CONTROLLER_WORKER__COMMAND": json.dumps([sys.executable, str(FAKE_WORKER)]),
        "DHG_CONTROLLER_WORKER__SCRATCH_MOUNT": "/scratch",
    }
    account = deployment["spec"]["template"]["spec"]["serviceAccountName"]
    kubeconfig = kube_api.service_account_kubeconfig(NAMESPACE, account)
    base = {k: v for k, v in os.environ.items() if not k.startswith("DHG_CONTROLLER_")}
    return {**base, **env, "KUBECONFIG": str(kubeconfig), "DHG_SERVICE_ACCOUNT": account}


@pytest.fixture
def replicas(deployment_env, tmp_path) -> Iterator[list[Replica]]:
    started = [
        Replica(
            name,
            {
                **deployment_env,
                "DHG_CONTROLLER_LIVENESS_PORT": str(free_port()),
                "DHG_CONTROLLER_METRICS_PORT": str(free_port()),
            },
            tmp_path,
        )
        for name in ("replica-a", "replica-b")
    ]
    yield started
    for replica in started:
        replica.stop()


def alive(replicas: list[Replica]) -> None:
    for replica in replicas:
        if replica.process.poll() is not None:
            raise AssertionError(f"{replica.name} exited:\n{replica.log_path.read_text()[-3000:]}")


def wait_log(replicas: list[Replica], check, what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        alive(replicas)
        time.sleep(0.2)
    logs = "\n".join(f"--- {r.name}\n{r.log_path.read_text()[-2000:]}" for r in replicas)
    raise AssertionError(f"{what}: not within {timeout}s\n{logs}")


def acting(replica: Replica) -> bool:
    """Whether the replica's last word on peering was to resume (it starts paused)."""
    said = [r["msg"] for r in replica.log() if r["msg"].startswith(("Pausing operations", "Resuming operations"))]
    return bool(said) and said[-1].startswith("Resuming")


def settled(replicas: list[Replica], steady: float = 3.0) -> tuple[Replica, Replica]:
    """(active, standby) once exactly one replica acts, and has for `steady` seconds."""
    since, pair = time.monotonic(), None
    while True:
        active = [r for r in replicas if acting(r)]
        current = (active[0], next(r for r in replicas if r is not active[0])) if len(active) == 1 else None
        if current != pair:
            since, pair = time.monotonic(), current
        elif pair and time.monotonic() - since >= steady:
            return pair
        alive(replicas)
        if time.monotonic() - since > 60:
            raise AssertionError(f"no single replica acts: {[(r.name, acting(r)) for r in replicas]}")
        time.sleep(0.2)


def test_the_chart_runs_two_peered_replicas_with_exactly_the_verbs_it_grants(
    kube_api, cluster, kubectl, chart, deployment_env, replicas, admin
):
    cluster.add_node("gpu-elsewhere", gpus=1, taints=[GPU_TAINT])  # a GPU outside the GPU pool: unschedulable
    cluster.add_node("cpu-1")

    # Peering: both replicas register; the one with the higher priority acts, the other pauses. (Each starts paused,
    # as peering is mandatory, and may resume while it sees only itself, then pause when it sees the other.)
    namespaced = bool(find(chart, "KopfPeering"))
    where = ["kopfpeerings.kopf.dev", "-n", "default"] if namespaced else ["clusterkopfpeerings.kopf.dev"]
    peering = wait_until(
        kube_api,
        lambda: len((p := kubectl.json("get", *where, "dhg-controller")).get("status") or {}) == 2 and p,
        what="both replicas in the peering",
    )
    assert len({peer["priority"] for peer in peering["status"].values()}) == 2
    active, standby = settled(replicas)
    for replica in replicas:  # the chart's livenessProbe: both answer, the paused one too
        assert httpx.get(replica.liveness, timeout=5).status_code == 200

    # A workload that uses every verb: fallback (a GPU Job deleted), a retry, a failure, a deletion.
    kubectl.apply(job("fallback", fallback={"afterSeconds": 1}))
    kubectl.apply(job("retried", device="cpu", source={"url": "https://media.example.org/fails-once.opus"}))
    kubectl.apply(job("broken", device="cpu", source={"url": "https://media.example.org/bad.opus"}))
    kubectl.apply(job("doomed", device="cpu", source={"url": "https://media.example.org/slow.opus"}))
    assert finished(kube_api, "fallback", timeout=90)["status"]["device"] == "cpu"
    assert finished(kube_api, "retried", timeout=90)["status"]["attempts"] == 2
    assert finished(kube_api, "broken", timeout=90)["status"]["phase"] == "Failed"
    delete_while_running(kube_api, kubectl, admin, "doomed")
    assert not standby.said("Handler") and not standby.said("Daemon"), "the standby replica acted"

    # Failover: the active replica stops (SIGTERM, as a rolling update does); the standby resumes and acts.
    assert active.stop() == 0
    wait_log([standby], lambda: standby.said("Resuming operations after the pause"), "the standby resumes")
    kubectl.apply(job("after-failover", device="cpu"))
    assert finished(kube_api, "after-failover", timeout=90)["status"]["phase"] == "Succeeded"
    assert [j["metadata"]["name"] for j in worker_jobs(kube_api, "after-failover")] == ["after-failover-cpu-1"]

    # /metrics of the acting replica: jobs by phase and device, as the cluster has them (its census, rebuilt
    # from the jobs it resumed).
    items = kubectl.json("get", "tj")["items"]
    succeeded = sum(1 for i in items if (i["status"]["phase"], i["status"]["device"]) == ("Succeeded", "cpu"))
    deadline, counted = time.monotonic() + 30, {}
    while counted.get(("Succeeded", "cpu")) != succeeded and time.monotonic() < deadline:
        families = text_string_to_metric_families(httpx.get(standby.metrics, timeout=5).text)
        family = next(f for f in families if f.name == "dhg_controller_jobs")
        counted = {(x.labels["phase"], x.labels["device"]): x.value for x in family.samples}
        time.sleep(0.2)
    assert counted[("Succeeded", "cpu")] == succeeded and counted[("Failed", "cpu")] == 1, counted
    # What the workers' summaries said, exported by the replica that saw the job end (after-failover: the standby).
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(httpx.get(standby.metrics, timeout=5).text)
        for sample in family.samples
    }
    # the jobs name no model: the default, base
    assert samples[("dhg_controller_audio_seconds_total", (("device", "cpu"), ("model", "base")))] >= 61.5
    assert samples[("dhg_controller_jobs_finished_total", (("phase", "Succeeded"), ("reason", "Completed")))] >= 1
    # Queue wait: from a pass that saw the worker Running, or from its container's start when it ended unseen.
    assert samples[("dhg_controller_queue_wait_seconds_count", (("device", "cpu"),))] >= 1

    # The job records reached the Registry with the controller's token from the chart's Secret.
    records = admin.get("/v1/audit", params={"limit": 500}).json()["items"]
    actors = {row["actor"] for row in records if row["path"].startswith("/v1/jobs")}
    assert actors == {"service:controller"}, actors

    # RBAC: nothing refused, and the chart grants exactly what was used.
    user = service_account_username(NAMESPACE, deployment_env["DHG_SERVICE_ACCOUNT"])
    refused = kube_api.requests.used(user, allowed=False)
    assert not refused, f"the chart's RBAC refused: {sorted(refused)}"
    used = kube_api.requests.used(user, allowed=True)
    granted = set()
    for role in find(chart, "ClusterRole"):
        granted |= rbac.granted(role["rules"])
    assert used == granted, f"unused: {sorted(granted - used)}; used, not granted: {sorted(used - granted)}"


def test_the_chart_grants_nothing_in_namespaces_it_does_not_watch():
    documents = render("controller.watchNamespaces={media}", namespace=NAMESPACE, release=RELEASE)
    (binding,) = find(documents, "RoleBinding")
    assert binding["metadata"]["namespace"] == "media" and binding["roleRef"]["kind"] == "ClusterRole"
    names = {d["metadata"]["name"] for d in find(documents, "ClusterRoleBinding")}
    assert names == {"dhg-controller-cluster"}  # only the cluster-scoped reads are cluster-wide
    (cluster_role,) = find(documents, "ClusterRole", "dhg-controller-cluster")
    resources = {r for rule in cluster_role["rules"] for r in rule["resources"]}
    assert resources == {"nodes", "customresourcedefinitions", "namespaces"}


def test_a_controller_killed_mid_job_leaves_no_second_worker(kube_api, cluster, kubectl, deployment_env, tmp_path):
    """Issue 17's fault: the controller process dies with SIGKILL (no shutdown at all) while a job's worker runs;
    the next one (a pod the Deployment restarts) finds the worker Job by its name and finishes the job with it."""
    cluster.add_node("cpu-1")

    def replica(name: str) -> Replica:
        ports = {"DHG_CONTROLLER_LIVENESS_PORT": str(free_port()), "DHG_CONTROLLER_METRICS_PORT": str(free_port())}
        return Replica(name, {**deployment_env, **ports, "DHG_CONTROLLER_STANDALONE": "true"}, tmp_path)

    killed = replica("killed")
    try:
        kubectl.apply(job("survivor", device="cpu", source={"url": "https://media.example.org/five-seconds.opus"}))
        wait_until(
            kube_api,
            lambda: (kubectl.json("get", "tj", "survivor").get("status") or {}).get("phase") == "Running",
            what="the job running",
        )
        killed.process.kill()
        assert killed.process.wait(timeout=30) == -signal.SIGKILL
    finally:
        killed.stop()
    restarted = replica("restarted")
    try:
        status = finished(kube_api, "survivor", timeout=90)["status"]
        assert (status["phase"], status["attempts"]) == ("Succeeded", 1), status
        assert [j["metadata"]["name"] for j in worker_jobs(kube_api, "survivor")] == ["survivor-cpu-1"]
    finally:
        restarted.stop()


SHARDED = (
    "controller.shards[0].name=a",
    "controller.shards[0].namespaces={team-a}",
    "controller.shards[1].name=b",
    "controller.shards[1].namespaces={team-b}",
    "controller.recordJobs=false",  # what is measured here is who handles which job, not the records
)


def shard_replica(kube_api, documents, deployment: str, name: str, tmp_path: Path) -> Replica:
    """One replica of a shard's Deployment: its environment, the chart's ServiceAccount, the fake worker."""
    (manifest,) = find(documents, "Deployment", deployment)
    (container,) = manifest["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    env |= {
        "DHG_CONTROLLER_WORKER__COMMAND": json.dumps([sys.executable, str(FAKE_WORKER)]),
        "DHG_CONTROLLER_WORKER__SCRATCH_MOUNT": "/scratch",
        "DHG_CONTROLLER_LIVENESS_PORT": str(free_port()),
        "DHG_CONTROLLER_METRICS_PORT": str(free_port()),
    }
    account = manifest["spec"]["template"]["spec"]["serviceAccountName"]
    base = {k: v for k, v in os.environ.items() if not k.startswith("DHG_CONTROLLER_")}
    kubeconfig = kube_api.service_account_kubeconfig(NAMESPACE, account)
    return Replica(name, {**base, **env, "KUBECONFIG": str(kubeconfig)}, tmp_path)


def handled(replica: Replica) -> set[str]:
    """The TranscriptionJobs (namespace/name) the replica's log says it worked on."""
    return {record["job"] for record in replica.log() if "job" in record}


def test_two_shards_each_handle_exactly_their_namespaces_and_a_standby_takes_over_its_shard(
    kube_api, cluster, kubectl, tmp_path
):
    cluster.add_node("cpu-1")
    documents = apply_chart(kube_api, kubectl, *SHARDED)
    for namespace in ("team-a", "team-b"):  # the chart wrote the workers' token Secret in each shard's namespace
        assert kubectl.json("get", "secret", "-n", namespace, "dhg-worker-registry-token")["metadata"]["name"]
    shard_a = [shard_replica(kube_api, documents, "dhg-controller-a", f"a-{n}", tmp_path) for n in range(2)]
    shard_b = [shard_replica(kube_api, documents, "dhg-controller-b", "b-0", tmp_path)]
    everyone = shard_a + shard_b
    try:
        active, standby = settled(shard_a)  # peered in team-a: one of the two acts
        wait_log(shard_b, lambda: acting(shard_b[0]), "shard b's only replica acts")
        names = {namespace: [f"{namespace}-{n}" for n in range(3)] for namespace in ("team-a", "team-b")}
        for namespace, jobs in names.items():
            for name in jobs:
                kubectl.apply({**job(name, device="cpu"), "metadata": {"name": name, "namespace": namespace}})
        for namespace, jobs in names.items():
            for name in jobs:
                status = finished(kube_api, name, timeout=90, namespace=namespace)["status"]
                assert status["phase"] == "Succeeded", status
                assert [j["metadata"]["name"] for j in worker_jobs(kube_api, name, namespace)] == [f"{name}-cpu-1"]
        # Each job's daemon says so when it ends (just after the status it wrote): in the log of its shard's
        # active replica only.
        team_a, team_b = ({f"{ns}/{name}" for name in names[ns]} for ns in ("team-a", "team-b"))
        wait_log(everyone, lambda: handled(active) == team_a, "shard a's active replica handled team-a's jobs")
        wait_log(everyone, lambda: handled(shard_b[0]) == team_b, "shard b handled team-b's jobs")
        assert not handled(standby)

        # Shard a's active replica stops (a rolling update's SIGTERM): its standby takes the shard over; shard b
        # goes on as before and never touches team-a.
        assert active.stop() == 0
        wait_log([standby], lambda: standby.said("Resuming operations after the pause"), "shard a's standby resumes")
        kubectl.apply({**job("after", device="cpu"), "metadata": {"name": "after", "namespace": "team-a"}})
        assert finished(kube_api, "after", timeout=90, namespace="team-a")["status"]["phase"] == "Succeeded"
        assert [j["metadata"]["name"] for j in worker_jobs(kube_api, "after", "team-a")] == ["after-cpu-1"]
        wait_log([standby], lambda: "team-a/after" in handled(standby), "the standby handled the job")
        assert handled(shard_b[0]) == team_b
    finally:
        for replica in everyone:
            replica.stop()
