"""A burst of TranscriptionJobs against the test Kubernetes API (kubesim) with its simulated scheduler, Job
controller and kubelet; the workers are stubbed by `sh` writing a success summary, so only the controllers are
measured. The simulated cluster's scheduler, Job controller and kubelet start once every Job exists (they share
the API's thread). Each controller runs as a process of its own (its peak RSS is its own): first the baseline
(bench/controller/baseline.py: a bare watch → create loop), then the operator (`python -m controller`), each
against a fresh API. Times come from the API's own commit events: TranscriptionJob created → its worker Job
created, and → status Succeeded."""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from controller.manifests import LABEL_JOB
from controller.model import GROUP, PLURAL, VERSION
from dhg.postgres import free_port
from kubesim import KubeApiServer, SimulatedCluster

REPOSITORY = Path(__file__).resolve().parents[2]
CRD = REPOSITORY / "crds" / "transcriptionjob.yaml"
KUBECTL = REPOSITORY / ".tools" / "bin" / "kubectl"  # `make tools`
TARGETS = {"p99_apply_to_job_seconds": 5.0, "peak_rss_mib": 250.0}
PODS_PER_NODE = 110
SUMMARY = {
    "status": "Succeeded",
    "transcriptId": "7d1f9c2e-0000-4000-8000-00000000000a",
    "audioSeconds": 60.0,
    "processingSeconds": 1.0,
    "realTimeFactor": 60.0,
    "device": "cpu",
}
# The worker stub: the container's args follow the script ($0 and on); it writes the summary and exits 0.
STUB = ["/bin/sh", "-c", f"echo '{json.dumps(SUMMARY)}' > \"$DHG_ASR_TERMINATION_LOG\""]


@dataclass
class Options:
    jobs: int = 500
    appliers: int = 1  # `kubectl apply -f` processes sharing the burst (one: as a user applies a file of jobs)
    timeout: float = 900.0
    registry: bool = False  # the operator records every job in a Registry (the whole control plane)


@dataclass
class Recorder:
    """A Registry (its own process, on an embedded PostgreSQL) the operator records jobs in; CPU read from /proc."""

    url: str
    token: str
    pids: dict[str, int]

    def recorded(self, phase: str) -> int:
        import httpx

        headers = {"Authorization": f"Bearer {self.token}"}
        page = httpx.get(f"{self.url}/v1/jobs", params={"phase": phase, "limit": 1}, headers=headers, timeout=30)
        page.raise_for_status()
        return int(page.json()["total"])


@dataclass
class Timeline:
    """Commit times (monotonic) per TranscriptionJob name, recorded from the store's event stream."""

    created: dict[str, float] = field(default_factory=dict)
    job_created: dict[str, float] = field(default_factory=dict)
    scheduling: dict[str, float] = field(default_factory=dict)  # the first status the controller wrote
    succeeded: dict[str, float] = field(default_factory=dict)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def listen(self, event: Any) -> None:  # called under the store's lock: record and return
        now, obj, resource = time.monotonic(), event.object, event.resource
        name = obj["metadata"]["name"]
        if resource.group == GROUP and resource.plural == PLURAL:
            if event.type == "ADDED":
                self.created.setdefault(name, now)
            elif (obj.get("status") or {}).get("phase") == "Succeeded":
                self.succeeded.setdefault(name, now)
            elif (obj.get("status") or {}).get("phase"):
                self.scheduling.setdefault(name, now)
        elif resource.group == "batch" and resource.plural == "jobs" and event.type == "ADDED":
            owner = (obj["metadata"].get("labels") or {}).get(LABEL_JOB)
            if owner:
                self.job_created.setdefault(owner, now)
        with self.changed:
            self.changed.notify_all()

    def wait(self, check: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        with self.changed:
            while not check():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{what}: not within {timeout:.0f} s")
                self.changed.wait(min(remaining, 1.0))


@dataclass
class Result:
    name: str
    jobs: int
    p50: float
    p99: float
    max: float
    all_jobs_seconds: float
    all_succeeded_seconds: float | None
    idle_rss_mib: float
    peak_rss_mib: float
    cpu_seconds: dict[str, float] = field(default_factory=dict)  # during the burst, by process
    all_recorded_seconds: float | None = None  # burst → every job recorded Succeeded in the Registry


def _memory(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM (the peak resident set since the process started), MiB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in {"VmRSS", "VmHWM"}:
            values[key] = int(rest.split()[0]) / 1024
    return values


def _transcription_job(name: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "TranscriptionJob",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"source": {"url": f"https://media.example.org/{name}.opus"}, "device": "cpu"},
    }


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def measure(
    name: str,
    command: list[str],
    options: Options,
    workdir: Path,
    expects_status: bool,
    recorder: Recorder | None = None,
) -> Result:
    from kubernetes import client, config

    from bench.registry.processes import own_cpu_seconds, tree_cpu_seconds

    with KubeApiServer(workdir=workdir, bookmark_interval=60.0) as api:
        # The simulated scheduler, Job controller and kubelet start once every Job exists: they share the API's
        # one thread, where a real cluster runs them on machines of their own (during the burst they slowed the
        # API for the bare baseline as much as for the operator: p99 14 s for both at 500 jobs).
        cluster = SimulatedCluster(api)
        for index in range(options.jobs // PODS_PER_NODE + 2):
            cluster.add_node(f"cpu-{index}", cpu="256", memory="1Ti")
        timeline = Timeline()
        api.store.subscribe(timeline.listen)
        api_client = config.new_client_from_config(config_file=str(api.kubeconfig))
        extensions = client.ApiextensionsV1Api(api_client)
        extensions.create_custom_resource_definition(yaml.safe_load(CRD.read_text()))
        client.CoreV1Api(api_client).create_namespaced_secret(
            "default", {"metadata": {"name": "dhg-worker-registry-token"}, "stringData": {"token": "bench"}}
        )
        env = {
            **os.environ,
            "KUBECONFIG": str(api.kubeconfig),
            "DHG_CONTROLLER_STANDALONE": "true",
            "DHG_CONTROLLER_METRICS_PORT": "0",
            "DHG_CONTROLLER_LIVENESS_PORT": str(free_port()),
            "DHG_CONTROLLER_LOG_LEVEL": "WARNING",
            "DHG_CONTROLLER_WORKER__COMMAND": json.dumps(STUB),
            "DHG_CONTROLLER_WORKER__SCRATCH_MOUNT": "/scratch",
            "DHG_CONTROLLER_WORKER__CPU_REQUESTS": json.dumps({"cpu": "10m", "memory": "16Mi"}),
        }
        if recorder is not None:
            env |= {"DHG_CONTROLLER_REGISTRY_URL": recorder.url, "DHG_CONTROLLER_REGISTRY_TOKEN": recorder.token}
        log = (workdir / f"{name}.log").open("w")
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPOSITORY)
        objects = client.CustomObjectsApi(api_client)
        try:
            # Warm-up: one job through the whole path, so start-up is not counted in the burst.
            objects.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, _transcription_job("warm-up"))
            timeline.wait(lambda: "warm-up" in timeline.job_created, 120, f"{name}: the warm-up job's Job")
            if expects_status:
                timeline.wait(lambda: "warm-up" in timeline.scheduling, 120, f"{name}: the warm-up job's status")
            time.sleep(2.0)
            idle = _memory(process.pid)["VmRSS"]

            names = [f"burst-{index:04d}" for index in range(options.jobs)]
            # Applied by `kubectl apply -f` in `appliers` processes at once (a share of the jobs each): clients of
            # their own, as users are (threads in this process fought the API's thread for the GIL).
            commands = []
            for index in range(options.appliers):
                share = workdir / f"burst-{index}.yaml"
                share.write_text(yaml.safe_dump_all([_transcription_job(n) for n in names[index :: options.appliers]]))
                cache = f"--cache-dir={workdir / f'kubectl-{index}'}"
                commands.append([str(KUBECTL), f"--kubeconfig={api.kubeconfig}", cache, "apply", "-f", str(share)])
            pids = {name: process.pid, **(recorder.pids if recorder else {})}
            cpu_before = {key: tree_cpu_seconds(pid) for key, pid in pids.items()} | {"API": own_cpu_seconds()}
            started = time.monotonic()
            appliers = [subprocess.Popen(c, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for c in commands]
            for applier in appliers:
                _, error = applier.communicate(timeout=options.timeout)
                if applier.returncode:
                    raise RuntimeError(f"kubectl apply failed: {error.decode()[-2000:]}")
            timeline.wait(
                lambda: all(n in timeline.job_created for n in names), options.timeout, f"{name}: a Job per TJ"
            )
            all_jobs = max(timeline.job_created[n] for n in names) - started
            cluster.start()
            all_succeeded = None
            if expects_status:
                timeline.wait(
                    lambda: all(n in timeline.succeeded for n in names), options.timeout, f"{name}: all Succeeded"
                )
                all_succeeded = max(timeline.succeeded[n] for n in names) - started
            all_recorded = None
            if recorder is not None:
                deadline = time.monotonic() + options.timeout
                while recorder.recorded("Succeeded") < len(names) + 1:  # and the warm-up
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"{name}: not every job recorded Succeeded in the Registry")
                    time.sleep(0.5)
                all_recorded = time.monotonic() - started
            cpu = {key: tree_cpu_seconds(pid) - cpu_before[key] for key, pid in pids.items()}
            cpu["API"] = own_cpu_seconds() - cpu_before["API"]  # the test API, its simulated cluster, this bench
            peak = _memory(process.pid)["VmHWM"]
        except TimeoutError:
            log.flush()
            sys.stderr.write(f"--- the {name}'s log (last 4 kB):\n{(workdir / f'{name}.log').read_text()[-4000:]}\n")
            raise
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
            log.close()
            api_client.close()
        latencies = [timeline.job_created[n] - timeline.created[n] for n in names]
        return Result(
            name=name,
            jobs=options.jobs,
            p50=statistics.median(latencies),
            p99=_percentile(latencies, 0.99),
            max=max(latencies),
            all_jobs_seconds=all_jobs,
            all_succeeded_seconds=all_succeeded,
            idle_rss_mib=idle,
            peak_rss_mib=peak,
            cpu_seconds={key: round(value, 1) for key, value in cpu.items()},
            all_recorded_seconds=all_recorded,
        )


@dataclass
class Run:
    results: dict[str, Result]
    figures: dict[str, float]
    lines: list[str]


def main(options: Options) -> Run:
    results: dict[str, Result] = {}
    with tempfile.TemporaryDirectory(prefix="bench-controller-") as temp, _recorder(options, Path(temp)) as recorder:
        for name, command, status in (
            ("baseline", [sys.executable, "-m", "bench.controller.baseline"], False),
            ("operator", [sys.executable, "-m", "controller"], True),
        ):
            workdir = Path(temp) / name
            workdir.mkdir()
            results[name] = measure(name, command, options, workdir, status, recorder if status else None)
    base, ours = results["baseline"], results["operator"]
    lines = [
        f"bench/controller: {options.jobs} TranscriptionJobs applied at once ({options.appliers} x kubectl apply -f), "
        "workers stubbed; test Kubernetes API",
        f"{'':28}{'baseline':>12}{'operator':>12}{'ratio':>8}",
    ]

    def row(label: str, a: float, b: float, unit: str) -> None:
        lines.append(f"{label:28}{a:>10.2f}{unit:>2}{b:>10.2f}{unit:>2}{b / a if a else float('nan'):>8.2f}")

    row("apply → Job p50", base.p50, ours.p50, "s")
    row("apply → Job p99", base.p99, ours.p99, "s")
    row("apply → Job max", base.max, ours.max, "s")
    row("burst → last Job", base.all_jobs_seconds, ours.all_jobs_seconds, "s")
    row("RSS idle", base.idle_rss_mib, ours.idle_rss_mib, "Mi")
    row("RSS peak", base.peak_rss_mib, ours.peak_rss_mib, "Mi")
    lines.append(f"operator: burst → all Succeeded {ours.all_succeeded_seconds:.1f} s")
    if ours.all_recorded_seconds is not None:
        hourly = options.jobs / ours.all_recorded_seconds * 3600
        lines.append(
            f"control plane (operator + Registry): every job recorded Succeeded {ours.all_recorded_seconds:.1f} s "
            f"after the burst: {hourly:,.0f} jobs/hour"
        )
    lines.append(
        "CPU seconds during the operator's burst: " + ", ".join(f"{k} {v}" for k, v in ours.cpu_seconds.items())
    )
    figures = {
        **({"jobs_per_hour": options.jobs / ours.all_recorded_seconds * 3600} if ours.all_recorded_seconds else {}),
        "p50_apply_to_job_seconds": ours.p50,
        "p99_apply_to_job_seconds": ours.p99,
        "all_succeeded_seconds": ours.all_succeeded_seconds or 0.0,
        "peak_rss_mib": ours.peak_rss_mib,
        "baseline_p99_apply_to_job_seconds": base.p99,
        "baseline_peak_rss_mib": base.peak_rss_mib,
    }
    for key, target in TARGETS.items():
        verdict = "met" if figures[key] <= target else "MISSED"
        lines.append(f"target {key} ≤ {target:g}: {figures[key]:.2f} ({verdict})")
    return Run(results, figures, lines)


@contextlib.contextmanager
def _recorder(options: Options, root: Path) -> Iterator[Recorder | None]:
    """With --registry: an embedded PostgreSQL and a Registry process for the operator to record jobs in."""
    if not options.registry:
        yield None
        return
    from bench.registry.processes import RegistryProcess, postmaster_pid, start_postgres
    from registry import migrate

    postgres = start_postgres(root / "registry-postgres")
    server: RegistryProcess | None = None
    try:
        migrate.upgrade(postgres.url)
        server = RegistryProcess(postgres.url, root / "registry-media", root / "registry.log").start()
        yield Recorder(server.url, server.admin_token, {"registry": server.pid, "postgres": postmaster_pid(postgres)})
    finally:
        if server is not None:
            server.stop()
        postgres.stop()
