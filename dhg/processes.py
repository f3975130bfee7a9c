"""Process plumbing for local mode: port checks, the data dir lock, stopping processes a crash left behind."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import signal
import socket
import time
from pathlib import Path
from typing import IO

from dhg.errors import AlreadyRunning, PortInUse, StackError
from dhg.postgres import EmbeddedPostgres, PostgresError

STOP_TIMEOUT_SECONDS = 20.0


def ensure_port_free(host: str, port: int, *, what: str, option: str) -> None:
    """Raise PortInUse when something listens on host:port (SO_REUSEADDR, as servers bind, so that
    connections still in TIME_WAIT do not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno in (errno.EADDRINUSE, errno.EACCES):
                reason = "is already in use" if error.errno == errno.EADDRINUSE else "is not allowed"
                raise PortInUse(
                    f"port {port} on {host} {reason}; {what} needs it "
                    f"(stop whatever uses it or choose another with {option})"
                ) from error
            raise


class DataDirLock:
    """An exclusive lock on the data dir, held while `dhg up` runs; the kernel drops it if we crash."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: IO[str] | None = None

    def acquire(self) -> None:
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as error:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            handle.close()
            raise AlreadyRunning(
                f"another `dhg up` (pid {holder}) is running on {self.path.parent.parent}; "
                "stop it first, or use another --data-dir"
            ) from error
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None


def signal_group(pid: int, signum: signal.Signals) -> None:
    """Send `signum` to the process group `pid` leads (a child started in a session of its own); nothing if it is
    gone."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)


def _command_line(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_leftover_service(pid: int, arguments: tuple[str, ...], timeout: float = STOP_TIMEOUT_SECONDS) -> bool:
    """Stop a service a crashed `dhg up` left (its command line goes on with `arguments` after the
    interpreter, e.g. `-m asr`); False when `pid` is not such a process (any more)."""
    if tuple(_command_line(pid)[1 : 1 + len(arguments)]) != arguments:
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)
    return True


def stop_leftover_postgres(postgres_dir: Path) -> bool:
    """Stop a Postgres still running on `postgres_dir` (a crashed `dhg up` left it); False when none runs."""
    server = EmbeddedPostgres(postgres_dir)
    if not server.is_running():
        return False  # a stale pid file at most: Postgres removes it itself on the next start
    try:
        server.stop()
    except PostgresError as error:
        raise StackError(f"a Postgres left running on {postgres_dir} could not be stopped: {error}") from error
    return True
