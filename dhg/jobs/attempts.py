"""A worker process of local mode's runner as the operator sees it: an `Attempt` stands for one batch Job and its pod
(Pending while it waits for a slot or a GPU, Running, Succeeded or Failed with its exit code and termination
message), and a `WarmWorker` is the interpreter kept ready with the worker's imports done."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from controller.reconcile import JobView, PodView
from dhg_core.vocabulary import Device

log = logging.getLogger("dhg.runner")

NODE = "local"
NO_GPU = "0/1 nodes are available: 1 Insufficient nvidia.com/gpu."
STOP_GRACE_SECONDS = 10.0
CANNOT_RUN = 128  # the exit code a container runtime reports for a command that cannot run


@dataclass
class Attempt:
    """One worker: the batch Job and pod it stands for."""

    name: str
    placement: Device
    number: int
    argv: list[str]
    env: dict[str, str]
    folder: Path
    deadline_seconds: int
    created_at: datetime
    process: subprocess.Popen[bytes] | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    exit_code: int | None = None
    deadline_exceeded: bool = False
    deleting: bool = False

    @property
    def termination_log(self) -> Path:
        return self.folder / "termination-log"

    @property
    def pid_file(self) -> Path:
        """The worker's process id, for whoever must signal it (operators, the fault tests)."""
        return self.folder / "pid"

    @property
    def output_log(self) -> Path:
        return self.folder / "output.log"

    def start(self, now: datetime, warm: WarmWorker | None = None) -> None:
        """Run the container's command: in `warm`'s interpreter when it is one started for that command."""
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "scratch").mkdir(exist_ok=True)
        self.termination_log.write_text("")
        self.started_at = now
        if warm is not None:
            self.process = warm.take(self.argv, self.env, self.output_log)
            if self.process is not None:
                self.pid_file.write_text(str(self.process.pid))
                return
        with self.output_log.open("ab") as output:
            try:
                self.process = subprocess.Popen(
                    self.argv, env=self.env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
                )
                self.pid_file.write_text(str(self.process.pid))
            except OSError as error:  # as a container that cannot run: exit 128, its reason as the message
                message = f"the worker cannot start: {error}"
                output.write(f"{message}\n".encode())
                self.termination_log.write_text(message)
                self.exit_code, self.finished_at = CANNOT_RUN, now

    def poll(self, now: datetime) -> None:
        if self.process is None or self.exit_code is not None:
            return
        code = self.process.poll()
        if code is None and self.started_at and now - self.started_at > timedelta(seconds=self.deadline_seconds):
            self.deadline_exceeded = True
            self.stop()
            code = self.process.returncode
        if code is not None:  # killed by a signal: 128 + its number, as a container runtime reports it (137: KILL)
            self.exit_code, self.finished_at = (128 - code if code < 0 else code), now

    def stop(self) -> None:
        """SIGTERM to the worker's process group, SIGKILL after the grace period."""
        self.begin_stop()
        self.finish_stop(time.monotonic() + STOP_GRACE_SECONDS)

    def begin_stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)

    def finish_stop(self, deadline: float) -> None:
        """Wait for the worker until `deadline` (time.monotonic()), then SIGKILL its process group."""
        if self.process is None or self.process.returncode is not None:
            return
        try:
            self.process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def view(self, has_gpu: bool) -> JobView:
        """What the batch Job and its pod would say of this worker."""
        if self.started_at is None:
            waiting_for_gpu = self.placement == "gpu" and not has_gpu
            pod = PodView(
                name=self.name,
                phase="Pending",
                unschedulable_since=self.created_at if waiting_for_gpu else None,
                unschedulable_message=NO_GPU if waiting_for_gpu else "",
            )
            return JobView(self.name, self.placement, self.number, pod=pod)
        if self.exit_code is None:
            pod = PodView(name=self.name, phase="Running", node=NODE, running=True, started_at=self.started_at)
            return JobView(self.name, self.placement, self.number, pod=pod)
        message = self.termination_log.read_text(errors="replace") if self.termination_log.exists() else ""
        succeeded = self.exit_code == 0 and not self.deadline_exceeded
        pod = PodView(
            name=self.name,
            phase="Succeeded" if succeeded else "Failed",
            node=NODE,
            exit_code=self.exit_code,
            termination_reason="Completed" if succeeded else "Error",
            termination_message=message,
            started_at=self.started_at,
        )
        failed = None if succeeded else ("DeadlineExceeded" if self.deadline_exceeded else "BackoffLimitExceeded")
        failed_message = "the attempt ran past activeDeadlineSeconds" if self.deadline_exceeded else ""
        return JobView(
            self.name, self.placement, self.number, failed, failed_message, self.finished_at if failed else None,
            pod=pod,
        )  # fmt: skip


@dataclass
class WarmWorker:
    """An interpreter that has imported the worker and waits for its job (`dhg.jobs.warm`)."""

    command: list[str]  # the container command it stands ready for: [python, -m, module]
    process: subprocess.Popen[bytes]

    @classmethod
    def launch(cls, command: list[str], env: dict[str, str], log_file: Path) -> WarmWorker | None:
        """Start one for `command` (`python -m MODULE`), or None for any other command."""
        if len(command) != 3 or command[1] != "-m":
            return None
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with log_file.open("ab") as output:
            process = subprocess.Popen(
                [command[0], "-m", "dhg.jobs.warm", command[2]],
                stdin=subprocess.PIPE, stdout=output, stderr=subprocess.STDOUT, env=env, start_new_session=True,
            )  # fmt: skip
        return cls(list(command), process)

    def take(self, argv: list[str], env: dict[str, str], output: Path) -> subprocess.Popen[bytes] | None:
        """Hand it a container's command line: its process, now that worker; None if it cannot be (another
        command, or it has ended: the caller starts the command itself)."""
        if argv[: len(self.command)] != self.command or self.process.poll() is not None:
            return None
        job = {"args": argv[len(self.command) :], "env": env, "output": str(output)}
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(json.dumps(job).encode() + b"\n")
            self.process.stdin.close()
        except OSError:  # it ended meanwhile
            return None
        return self.process

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
