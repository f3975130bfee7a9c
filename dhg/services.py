"""A service local mode runs as a child process: started with its own log, awaited on /readyz, stopped."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

from dhg import logs
from dhg.errors import StackError
from dhg.processes import signal_group

HOST = "127.0.0.1"
READY_POLL_SECONDS = 0.2
READY_PROBE_TIMEOUT_SECONDS = 2.0


@dataclass
class ChildService:
    """One HTTP service on 127.0.0.1:`port`, logging to `log_path`; `name` is how errors call it; ready when
    `ready_path` answers 200."""

    name: str
    port: int
    log_path: Path
    ready_path: str = "/readyz"
    ready_timeout: float = 90.0  # how long a restart may take to get ready
    process: subprocess.Popen[bytes] | None = None
    log_offset: int = 0
    _launch: tuple[list[str], dict[str, str], Path] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def spawn(self, command: list[str], environment: dict[str, str], cwd: Path) -> None:
        """Start the process, appending to its log after a line that marks this run."""
        self._launch = (command, environment, cwd)
        with self.log_path.open("ab") as log:
            log.write(
                f"--- dhg up (pid {os.getpid()}) starting {self.name} at "
                f"{datetime.now(UTC).isoformat(timespec='seconds')}\n".encode()
            )
            log.flush()
            self.log_offset = log.tell()
            # its own session, so Ctrl-C reaches only `dhg up`, which stops the parts in order
            self.process = subprocess.Popen(
                command,
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                start_new_session=True,
            )

    def log_tail(self) -> str:
        """The end of what this run wrote to the log, for an error message."""
        return logs.describe_tail(self.log_path, offset=self.log_offset)

    def wait_ready(self, timeout: float) -> None:
        """Return once /readyz answers 200; StackError (with the log's tail) if it exits or takes too long."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.url, timeout=READY_PROBE_TIMEOUT_SECONDS) as client:
            while not _answers_ready(client, self.ready_path):
                if self.process.poll() is not None:
                    raise StackError(
                        f"{self.name} exited with status {self.process.returncode} while starting; {self.log_tail()}"
                    )
                if time.monotonic() > deadline:
                    raise StackError(f"{self.name} did not become ready within {timeout:g} s; {self.log_tail()}")
                time.sleep(READY_POLL_SECONDS)

    def ended(self) -> str | None:
        """None while it runs (or was never started); else how it ended."""
        if self.process is None or (status := self.process.poll()) is None:
            return None
        return describe_exit(status)

    def restart(self) -> None:
        """Start the same command again (whatever its process group left is killed first) and wait until ready."""
        assert self._launch is not None and self.process is not None
        signal_group(self.process.pid, signal.SIGKILL)
        self.spawn(*self._launch)
        self.wait_ready(self.ready_timeout)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def begin_stop(self) -> None:
        """SIGTERM to its process group (it and whatever it started), if it runs."""
        if self.running:
            assert self.process is not None
            signal_group(self.process.pid, signal.SIGTERM)

    def finish_stop(self, deadline: float) -> None:
        """Wait for it to end until `deadline` (time.monotonic()), then SIGKILL its process group."""
        if self.process is None:
            return
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=max(0.0, deadline - time.monotonic()))
        signal_group(self.process.pid, signal.SIGKILL)  # what it started and left, too
        self.process.wait()


def describe_exit(status: int) -> str:
    """A process's end as a sentence's predicate: "was killed by SIGKILL", "exited with status 1"."""
    if status < 0:
        try:
            return f"was killed by {signal.Signals(-status).name}"
        except ValueError:
            return f"was killed by signal {-status}"
    return f"exited with status {status}"


def _answers_ready(client: httpx.Client, path: str) -> bool:
    try:
        return client.get(path).status_code == httpx.codes.OK
    except httpx.HTTPError:
        return False
