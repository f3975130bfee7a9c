"""Local mode's TranscriptionJob runner: the operator's loop on one machine, without Kubernetes.

Each pass reads the objects `dhg apply` stored, and for every one that has not ended runs the operator's pure
core, `controller.reconcile.reconcile()` (placement, GPU → CPU fallback, retries with backoff on exit 75, the end
on exit 2, conditions, phases), on what this machine shows it: the worker processes it started stand for the
batch Jobs and their pods. A Job the plan creates is the manifest `controller.manifests.build_job()` writes, and
its container's command, arguments and environment are what runs here (the data, scratch and termination-log
paths mapped onto the data dir): the worker gets exactly the arguments it gets in a pod. The Registry's records
are the operator's (`controller.records`): job id = the object's uid.

This machine is one node: with CUDA it offers one GPU, without it none (`device: auto` then goes to CPU at once
with GPUFallback=True, and `device: gpu` waits in Pending as on a cluster without GPUs). At most `parallel`
workers run at once; the others wait as unscheduled pods. A worker still running when `dhg up` stops is stopped;
on the next start its attempt is found missing and launched again under the same name (the Registry stores one
transcript per job id). While a slot is free, the runner keeps one interpreter that has already imported the
worker waiting for the next job (`dhg.jobs.warm`): a job starts without a pod's cold start, with the same
command line and environment.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from controller import records
from controller.manifests import DATA_MOUNT, WorkerConfig, setting
from controller.model import TranscriptionJob
from controller.reconcile import Observed, reconcile
from dhg.jobs.attempts import STOP_GRACE_SECONDS, Attempt, WarmWorker
from dhg.jobs.store import JobStore
from dhg_contract.client import RegistryAPIError, RegistryClient
from dhg_core.failures import RepeatedFailures
from dhg_core.vocabulary import TERMINAL_PHASES, Device
from dhg_core.worker import TERMINATION_LOG

log = logging.getLogger("dhg.runner")

BUSY_PASS_SECONDS = 0.05  # while workers run or wait: how soon an exit is seen
IDLE_PASS_SECONDS = 1.0  # otherwise (a NOTIFY from `dhg apply` or `dhg delete` wakes it sooner)


def default_parallel() -> int:
    """One worker per two cores (a worker uses two threads), at least one."""
    return max(1, (os.cpu_count() or 2) // 2)


@dataclass
class LocalRunner:
    """The loop, in a thread of `dhg up`: `start()`, then `stop()` (which stops every worker)."""

    store: JobStore
    registry_url: str
    token: str  # the runner's own (the operator's: job records)
    jobs_dir: Path
    data_root: Path
    parallel: int = field(default_factory=default_parallel)
    has_gpu: bool = False
    environment: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    warm: bool = True  # keep a worker's interpreter started ahead of the next job (`dhg.jobs.warm`)
    worker_token: str = ""  # the workers' Registry token (the Secret's value on a cluster); default: `token`
    attempts: dict[str, dict[str, Attempt]] = field(default_factory=dict)  # object uid → Job name → attempt
    recorded: dict[str, str] = field(default_factory=dict)  # object uid → the phase last written to the Registry
    _spare: WarmWorker | None = None
    _stopping: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    @property
    def config(self) -> WorkerConfig:
        return WorkerConfig(command=(sys.executable, "-m", "asr.worker"), registry_url=self.registry_url)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="dhg-runner", daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        """Its loop runs (it only ends when stopped, or on a failure outside any pass)."""
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = STOP_GRACE_SECONDS) -> None:
        """Stop the loop and every worker: SIGTERM to each at once, SIGKILL to what still runs after `timeout`."""
        self.begin_stop()
        self.finish_stop(time.monotonic() + timeout)

    def begin_stop(self) -> None:
        """Tell the loop to end and every worker to stop (SIGTERM), without waiting."""
        self._stopping.set()
        for attempt in self._every_attempt():
            attempt.begin_stop()
        spare = self._spare
        if spare is not None:
            spare.stop()

    def finish_stop(self, deadline: float) -> None:
        """Wait for the loop and the workers until `deadline` (time.monotonic()); SIGKILL to what still runs."""
        if self._thread is not None:  # a pass in flight may still wait on the Registry: not past the deadline
            self._thread.join(timeout=max(0.0, deadline - time.monotonic()))
        for attempt in self._every_attempt():
            attempt.begin_stop()  # one its last pass started
            attempt.finish_stop(deadline)
        if self._spare is not None:
            self._spare.stop()
            self._spare = None

    def _every_attempt(self) -> list[Attempt]:
        return [attempt for attempts in list(self.attempts.values()) for attempt in list(attempts.values())]

    def _loop(self) -> None:
        listener = None
        failures = RepeatedFailures("a TranscriptionJob runner pass", log)
        with RegistryClient(self.registry_url, self.token, timeout=30) as registry:
            while not self._stopping.is_set():
                try:
                    listener = listener if listener is not None and not listener.closed else self.store.listen()
                    self.run_pass(registry)
                    every = [a for attempts in self.attempts.values() for a in attempts.values()]
                    busy = any(a.process is not None and a.exit_code is None for a in every)
                    timeout = BUSY_PASS_SECONDS if busy else IDLE_PASS_SECONDS
                    for _ in listener.notifies(timeout=timeout, stop_after=1):
                        pass
                except Exception as error:  # a pass that failed is tried again; the runner never dies of one
                    failures.failed(error)
                    if listener is not None:
                        listener.close()
                    self._stopping.wait(IDLE_PASS_SECONDS)
                else:
                    failures.succeeded()
        if listener is not None:
            listener.close()
        self.store.close()

    def run_pass(self, registry: RegistryClient) -> None:
        now = datetime.now(UTC)
        for attempts in self.attempts.values():
            for attempt in attempts.values():
                attempt.poll(now)
        for body in self.store.objects():
            uid = body["metadata"]["uid"]
            if "deletionTimestamp" in body["metadata"]:
                self._delete(registry, body)
            elif (body.get("status") or {}).get("phase") not in TERMINAL_PHASES:
                self._reconcile(registry, body, now)
            else:
                self.attempts.pop(uid, None)
        self._schedule(now)

    def _reconcile(self, registry: RegistryClient, body: dict[str, Any], now: datetime) -> None:
        uid, status = body["metadata"]["uid"], body.get("status") or {}
        job = TranscriptionJob.model_validate(body)
        attempts = self.attempts.setdefault(uid, {})
        views = [attempt.view(self.has_gpu) for attempt in attempts.values() if not attempt.deleting]
        plan = reconcile(Observed(job, views, 1 if self.has_gpu else 0, now), self.config)
        for name in plan.delete:
            if name in attempts:
                attempts[name].deleting = True
                attempts[name].stop()
        for manifest in plan.create:
            name = manifest["metadata"]["name"]
            if name not in attempts or attempts[name].deleting:  # the same name again: no second worker (409)
                attempts[name] = self._attempt(body, manifest, now)
        if plan.status != status or plan.events:
            self.store.write_status(uid, plan.status, plan.events)
        self._record(registry, body, plan.status)

    def _attempt(self, body: dict[str, Any], manifest: dict[str, Any], now: datetime) -> Attempt:
        """The Job's container as a process here: its command and arguments, its environment, paths mapped."""
        meta = body["metadata"]
        name = manifest["metadata"]["name"]
        folder = self.jobs_dir / meta["namespace"] / meta["name"] / name
        (container,) = manifest["spec"]["template"]["spec"]["containers"]
        mounts = {
            TERMINATION_LOG: str(folder / "termination-log"),
            DATA_MOUNT: str(self.data_root),
            self.config.scratch_mount: str(folder / "scratch"),
        }
        env = self._base_environment()
        for variable in container["env"]:
            if "valueFrom" in variable:  # the worker's Registry token, from its Secret on a cluster
                env[variable["name"]] = self.worker_token or self.token
            else:
                env[variable["name"]] = _mapped(variable["value"], mounts)
        allowed = setting("worker_allowed_roots", json.dumps([str(self.data_root)]))
        env[allowed["name"]] = allowed["value"]
        # One's own machine: a `source.url` may be a server on it or on the LAN (never link-local metadata).
        private = setting("worker_allow_private", "true")
        env[private["name"]] = private["value"]
        # The command is this machine's interpreter already (WorkerConfig.command): only the arguments hold pod paths.
        argv = [*container["command"], *(_mapped(argument, mounts) for argument in container["args"])]
        placement: Device = manifest["metadata"]["labels"]["factory.dhg.ai/placement"]
        number = int(manifest["metadata"]["labels"]["factory.dhg.ai/attempt"])
        deadline = int(manifest["spec"]["activeDeadlineSeconds"])
        return Attempt(name, placement, number, argv, env, folder, deadline, now)

    def _base_environment(self) -> dict[str, str]:
        """What every worker's environment starts from: this process's, without its own settings."""
        return {key: value for key, value in self.environment.items() if not key.startswith("DHG_")}

    def _schedule(self, now: datetime) -> None:
        """Start waiting workers, oldest first, while fewer than `parallel` run (GPU ones only with a GPU); then,
        with a slot still free, an interpreter for the next one (never while every slot works: its imports would
        take CPU from them)."""
        every = [a for attempts in self.attempts.values() for a in attempts.values()]
        waiting = sorted((a for a in every if a.started_at is None and not a.deleting), key=lambda a: a.created_at)
        running = sum(1 for a in every if a.process is not None and a.exit_code is None)
        for attempt in waiting:
            if running >= self.parallel or self._stopping.is_set():
                break
            if attempt.placement == "gpu" and not self.has_gpu:
                continue
            spare, self._spare = self._spare, None
            attempt.start(now, spare)
            if spare is not None and attempt.process is not spare.process:
                spare.stop()
            running += 1
        if not self.warm or running >= self.parallel or self._stopping.is_set():
            return
        if self._spare is None:
            self._spare = WarmWorker.launch(list(self.config.command), self._base_environment(), self._warm_log)
        elif self._spare.process.poll() is not None:  # it failed on its own: no relaunching it every pass
            log.warning("the worker started ahead of its job ended by itself; workers start cold from now on",
                        extra={"log": str(self._warm_log), "exit_code": self._spare.process.returncode})  # fmt: skip
            self.warm, self._spare = False, None

    @property
    def _warm_log(self) -> Path:
        return self.jobs_dir / "warm.log"

    def _record(self, registry: RegistryClient, body: dict[str, Any], status: dict[str, Any]) -> None:
        """The Registry's record in step with the phase, as the operator keeps it (best effort, retried)."""
        uid, phase = body["metadata"]["uid"], status.get("phase")
        if not phase or self.recorded.get(uid) == phase:
            return
        try:
            if uid not in self.recorded:
                stored = registry.create_job(records.job(body, status)).value
                if stored.phase == phase:
                    self.recorded[uid] = phase
                    return
            registry.update_job(uuid.UUID(uid), records.patch(status))
            self.recorded[uid] = phase
        except (RegistryAPIError, OSError) as error:
            log.warning("could not record the job in the Registry", extra={"job": uid, "error": str(error)[:300]})

    def _delete(self, registry: RegistryClient, body: dict[str, Any]) -> None:
        """Stop its workers, mark the Registry's record Cancelled (unless it ended), then remove the object and its
        workers' folders."""
        uid = body["metadata"]["uid"]
        for attempt in self.attempts.pop(uid, {}).values():
            attempt.stop()
        phase = (body.get("status") or {}).get("phase")
        if phase is not None and phase not in TERMINAL_PHASES:
            try:
                registry.update_job(uuid.UUID(uid), records.CANCELLED)
            except RegistryAPIError as error:
                if error.status != 404:
                    raise
        self.recorded.pop(uid, None)
        meta = body["metadata"]  # its workers' folders go with it, as a deleted Job's pods and logs do
        shutil.rmtree(self.jobs_dir / meta["namespace"] / meta["name"], ignore_errors=True)
        self.store.remove(uid)


def _mapped(value: str, mounts: dict[str, str]) -> str:
    """A path inside the pod → the same path on this machine (the longest mount that holds it)."""
    for mount in sorted(mounts, key=len, reverse=True):
        if value == mount or value.startswith(mount.rstrip("/") + "/"):
            return mounts[mount] + value[len(mount) :]
    return value
