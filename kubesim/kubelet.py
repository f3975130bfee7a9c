"""A kubelet that runs each bound pod's containers as local processes, Never-restart semantics.

How a container maps onto this machine (volumes, env from Secrets and ConfigMaps, the termination message
file) is in containers.py. A deleted running pod gets its grace period: SIGTERM, SIGKILL when it is over, then
the kubelet removes the pod, as the real one does.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubesim import containers as containers_module
from kubesim.controllers import Controller, record_event, resource, tolerate_gone
from kubesim.store import Store
from kubesim.timestamps import now
from kubesim.views import Event

Object = dict[str, Any]
COMPONENT = "kubelet"
MESSAGE_LIMIT = 4096  # bytes, as the real kubelet caps termination messages
FALLBACK_LOG_LINES = 80
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Plan:
    argv: list[str]
    env: dict[str, str]
    message_path: Path
    has_command: bool


@dataclass
class Running:
    processes: dict[str, asyncio.subprocess.Process] = field(default_factory=dict)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


class Kubelet(Controller):
    """Runs the pods bound to nodes it manages (all nodes, by default)."""

    def __init__(
        self,
        store: Store,
        workdir: Path,
        *,
        register_log: Callable[[str, str, Callable[[], str]], None],
        cwd: Path | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        super().__init__(store)
        self.workdir = workdir
        self.cwd = cwd or Path.cwd()
        self.extra_env = extra_env or {}
        self.register_log = register_log
        self._running: dict[str, Running] = {}  # by pod uid
        self._terminating: set[str] = set()
        self._background: set[asyncio.Task[None]] = set()

    def interested(self, event: Event) -> bool:
        return event.resource.kind in ("Pod", "Secret", "ConfigMap")

    async def sweep(self) -> None:
        pods, _ = self.store.list(resource(self.store, "", "pods"), None, copies=False)  # copied when kept
        present = {p["metadata"]["uid"] for p in pods}
        for uid in list(self._running):
            if uid not in present:
                await self._kill(uid)
        for pod in pods:
            uid = pod["metadata"]["uid"]
            if pod["metadata"].get("deletionTimestamp"):
                if uid not in self._terminating and (pod.get("spec") or {}).get("nodeName"):
                    self._terminating.add(uid)
                    self._background.add(asyncio.create_task(self._terminate(copy.deepcopy(pod))))
                continue
            bound = (pod.get("spec") or {}).get("nodeName")
            if bound and uid not in self._running and (pod.get("status") or {}).get("phase") == "Pending":
                self._running[uid] = Running()
                self._running[uid].tasks.append(asyncio.create_task(self._run_pod(copy.deepcopy(pod))))

    async def _terminate(self, pod: Object) -> None:
        """Graceful deletion: stop the containers (SIGTERM, SIGKILL after the grace period), then remove the pod."""
        meta = pod["metadata"]
        await self._kill(meta["uid"], grace=float(meta.get("deletionGracePeriodSeconds") or 0))
        pods_type = resource(self.store, "", "pods")
        tolerate_gone(lambda: self.store.delete(pods_type, meta["namespace"], meta["name"], {"gracePeriodSeconds": 0}))

    async def stop(self) -> None:
        for task in self._background:
            task.cancel()
        tasks = [task for running in self._running.values() for task in running.tasks] + list(self._background)
        for uid in list(self._running):
            await self._kill(uid)
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _kill(self, uid: str, grace: float = 5) -> None:
        running = self._running.pop(uid, None)
        if not running:
            return
        for process in running.processes.values():
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        for process in running.processes.values():
            try:
                await asyncio.wait_for(process.wait(), timeout=max(grace, 0.1))
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
        for task in running.tasks:
            task.cancel()

    async def _run_pod(self, pod: Object) -> None:
        try:
            await self._run_pod_containers(pod)
        except Exception:
            log.exception("the kubelet failed to run pod %s", pod["metadata"]["name"])

    async def _run_pod_containers(self, pod: Object) -> None:
        meta, spec = pod["metadata"], pod["spec"]
        folder = self.workdir / meta["namespace"] / meta["name"]
        folder.mkdir(parents=True, exist_ok=True)
        log_path = folder / "output.log"
        log_path.touch()
        self.register_log(meta["namespace"], meta["name"], lambda: log_path.read_text(errors="replace"))
        containers = spec.get("containers") or []
        try:
            plans = [self._plan(pod, c, folder) for c in containers]
        except containers_module.ContainerConfigError as error:
            self._refuse(pod, containers, str(error))
            return
        started = now()
        self._patch_status(
            pod,
            {
                "phase": "Running",
                "startTime": started,
                "hostIP": "127.0.0.1",
                "podIP": "127.0.0.1",
                "podIPs": [{"ip": "127.0.0.1"}],
                "conditions": _conditions(ready=True),
                "containerStatuses": [_status(c, {"running": {"startedAt": started}}, ready=True) for c in containers],
            },
        )
        results = await asyncio.gather(
            *(self._run_container(pod, c, plan, log_path) for c, plan in zip(containers, plans, strict=True))
        )
        if pod["metadata"]["uid"] not in self._running:
            return  # deleted while running
        phase = "Succeeded" if all(r["exitCode"] == 0 for r in results) else "Failed"
        reason = "PodCompleted" if phase == "Succeeded" else "PodFailed"
        self._patch_status(
            pod,
            {
                "phase": phase,
                "conditions": _conditions(ready=False, reason=reason),
                "containerStatuses": [
                    _status(c, {"terminated": r}, ready=False) for c, r in zip(containers, results, strict=True)
                ],
            },
        )

    def _plan(self, pod: Object, container: Object, folder: Path) -> Plan:
        """argv, env and termination-message file for a container, its paths mapped onto this machine."""
        message_path = folder / f"{container['name']}.termination-log"
        message_path.write_text("")
        mapping = containers_module.mounts(self.store, pod, container, folder, self.workdir / "claims")
        mapping[container.get("terminationMessagePath", "/dev/termination-log")] = str(message_path)
        argv = [
            containers_module.rewrite(a, mapping)
            for a in (container.get("command") or []) + (container.get("args") or [])
        ]
        env = {**os.environ, **self.extra_env, **containers_module.environment(self.store, pod, container, mapping)}
        return Plan(argv, env, message_path, bool(container.get("command")))

    def _refuse(self, pod: Object, containers: list[Object], message: str) -> None:
        """CreateContainerConfigError: the pod stays Pending; a later Secret/ConfigMap change retries it."""
        self._running.pop(pod["metadata"]["uid"], None)
        waiting = {"waiting": {"reason": "CreateContainerConfigError", "message": message}}
        if [c.get("state") for c in (pod.get("status") or {}).get("containerStatuses") or []] == [waiting] * len(
            containers
        ):
            return  # already reported: no new Event on every retry
        self._patch_status(pod, {"containerStatuses": [_status(c, waiting, ready=False) for c in containers]})
        record_event(self.store, pod, "Failed", f"Error: {message}", type_="Warning", component=COMPONENT)

    async def _run_container(self, pod: Object, container: Object, plan: Plan, log_path: Path) -> Object:
        started = now()
        if not plan.has_command:
            record_event(
                self.store,
                pod,
                "Failed",
                "Error: the simulated kubelet needs spec.containers[].command (images are not pulled or run)",
                type_="Warning",
                component=COMPONENT,
            )
            return {
                "exitCode": 128,
                "reason": "ContainerCannotRun",
                "message": "no command",
                "startedAt": started,
                "finishedAt": now(),
            }
        argv, env, message_path = plan.argv, plan.env, plan.message_path
        record_event(
            self.store,
            pod,
            "Started",
            f"Started container {container['name']}",
            component=COMPONENT,
            field_path=f"spec.containers{{{container['name']}}}",
            host=pod["spec"].get("nodeName", ""),
        )
        with log_path.open("ab") as log:
            process = await asyncio.create_subprocess_exec(
                *argv,
                cwd=container.get("workingDir") or str(self.cwd),
                env=env,
                stdout=log,
                stderr=log,
                stdin=asyncio.subprocess.DEVNULL,
                start_new_session=True,
            )
            running = self._running.get(pod["metadata"]["uid"])
            if running:
                running.processes[container["name"]] = process
            code = await process.wait()
        message = termination_message(
            message_path, log_path, failed=code != 0, policy=container.get("terminationMessagePolicy", "File")
        )
        result: Object = {
            "exitCode": code if code >= 0 else 128 - code,
            "reason": "Completed" if code == 0 else "Error",
            "startedAt": started,
            "finishedAt": now(),
            "containerID": f"sim://{process.pid}",
        }
        if message:
            result["message"] = message
        return result

    def _patch_status(self, pod: Object, status: Object) -> None:
        meta = pod["metadata"]

        def apply(current: Object) -> Object:
            current["status"] = {
                **(current.get("status") or {}),
                **status,
                "conditions": _merge_conditions(
                    (current.get("status") or {}).get("conditions") or [], status.get("conditions") or []
                ),
            }
            return current

        pods_type = resource(self.store, "", "pods")
        tolerate_gone(lambda: self.store.patch(pods_type, meta["namespace"], meta["name"], apply, subresource="status"))


def termination_message(message_path: Path, log_path: Path, *, failed: bool, policy: str) -> str:
    """The file's content, capped; with FallbackToLogsOnError, a failed container's log tail when it is empty."""
    message = message_path.read_bytes()[:MESSAGE_LIMIT].decode(errors="replace")
    if not message and failed and policy == "FallbackToLogsOnError":
        tail = log_path.read_text(errors="replace").splitlines()[-FALLBACK_LOG_LINES:]
        message = "\n".join(tail)[-MESSAGE_LIMIT:]
    return message


def _status(container: Object, state: Object, ready: bool) -> Object:
    return {
        "name": container["name"],
        "image": container.get("image", ""),
        "imageID": "",
        "ready": ready,
        "started": ready,
        "restartCount": 0,
        "state": state,
        "lastState": {},
        **(
            {"containerID": state["terminated"]["containerID"]}
            if "terminated" in state and "containerID" in state["terminated"]
            else {}
        ),
    }


def _conditions(ready: bool, reason: str = "") -> list[Object]:
    value = "True" if ready else "False"
    extra = {"reason": reason} if reason else {}
    return [
        {"type": "PodReadyToStartContainers", "status": value, "lastProbeTime": None, "lastTransitionTime": now()},
        {"type": "Initialized", "status": "True", "lastProbeTime": None, "lastTransitionTime": now()},
        {"type": "Ready", "status": value, "lastProbeTime": None, "lastTransitionTime": now(), **extra},
        {"type": "ContainersReady", "status": value, "lastProbeTime": None, "lastTransitionTime": now(), **extra},
    ]


def _merge_conditions(old: list[Object], new: list[Object]) -> list[Object]:
    replaced = {c["type"] for c in new}
    return [c for c in old if c["type"] not in replaced] + new
