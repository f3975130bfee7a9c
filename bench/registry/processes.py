"""The system under test: an embedded PostgreSQL and the Registry in its own process (its own GIL).

Also reads each process's CPU time from /proc, so the report can say where the two cores went.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from dhg.postgres import EmbeddedPostgres, free_port

LOOPBACK = "127.0.0.1"
START_TIMEOUT_SECONDS = 180.0  # loading the embedding model on 2 busy cores takes a while
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class StartError(RuntimeError):
    """The Registry did not come up; its log says why."""


def _cpu_ticks(pid: int) -> tuple[int, int]:
    """(own user + system ticks, reaped children's user + system ticks) of one process, from proc(5)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14])


def child_pids(parent: int) -> list[int]:
    """A process's live children, from /proc/PID/task/TID/children (no walk over every process)."""
    pids: list[int] = []
    for task in Path(f"/proc/{parent}/task").iterdir():
        with contextlib.suppress(OSError):
            pids += [int(pid) for pid in (task / "children").read_text().split()]
    return pids


def cpu_seconds(pid: int) -> float:
    """A live process's own user + system CPU seconds."""
    return _cpu_ticks(pid)[0] / CLOCK_TICKS


def tree_cpu_seconds(root: int, attempts: int = 5) -> float:
    """CPU of a process, its live children and its exited children (Postgres backends come and go).

    A child reaped while the children are being read would be missed (gone from /proc, not yet in the
    parent's total when that was read), so the read is repeated until no child was reaped during it."""
    total = 0
    for _ in range(attempts):
        own, reaped = _cpu_ticks(root)
        total = own + reaped
        for child in child_pids(root):
            try:
                total += _cpu_ticks(child)[0]
            except OSError:  # exited after the listing: caught by the check below
                continue
        if _cpu_ticks(root)[1] == reaped:
            break
    return total / CLOCK_TICKS


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent on anything but idle and I/O wait since boot (from /proc/stat)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = values[:8]
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


def busy_cores(seconds: float = 2.0) -> float:
    """How many cores the machine keeps busy right now (sampled over `seconds`, while we idle)."""
    before = machine_busy_seconds()
    time.sleep(seconds)
    return (machine_busy_seconds() - before) / seconds


def wait_until_quiet(limit_seconds: float, threshold_cores: float = 0.2) -> float:
    """Wait (up to `limit_seconds`) until other processes use less than `threshold_cores`; returns the last
    reading. Other people's jobs on a 2-core machine halve what a benchmark can measure."""
    deadline = time.monotonic() + limit_seconds
    while True:
        busy = busy_cores()
        if busy < threshold_cores or time.monotonic() >= deadline:
            return busy


def own_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def start_postgres(data_dir: Path) -> EmbeddedPostgres:
    """A durable PostgreSQL (fsync and synchronous commit on) on loopback TCP, configured as local mode runs it."""
    return EmbeddedPostgres(data_dir, durable=True).start()


def postmaster_pid(postgres: EmbeddedPostgres) -> int:
    return int((postgres.data_dir / "pgdata" / "postmaster.pid").read_text().split()[0])


@dataclass
class RegistryProcess:
    """`python -m registry serve` on a free loopback port, with its own admin token and log file."""

    database_url: str
    storage_dir: Path
    log_path: Path
    embeddings: str = "off"
    workers: int = 1
    port: int = 0
    admin_token: str = field(default_factory=lambda: "bench-admin-" + secrets.token_hex(16))
    extra_env: dict[str, str] = field(default_factory=dict)
    migrate_first: bool = False  # the benchmarks migrate before they start it
    _process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def start(self) -> RegistryProcess:
        """Start the server and wait until it is ready (and its embedder loaded, when embeddings are on)."""
        self.port = self.port or free_port(LOOPBACK)
        env = {
            **os.environ,
            "DHG_REGISTRY_DATABASE_URL": self.database_url,
            "DHG_REGISTRY_ADMIN_TOKEN": self.admin_token,
            "DHG_REGISTRY_STORAGE_DIR": str(self.storage_dir),
            "DHG_REGISTRY_EMBEDDINGS": self.embeddings,
            "DHG_REGISTRY_LOG_LEVEL": "WARNING",
            **self.extra_env,
        }
        command = [
            sys.executable,
            "-m",
            "registry",
            "serve",
            "--host",
            LOOPBACK,
            "--port",
            str(self.port),
            "--migrate-first" if self.migrate_first else "--no-migrate-first",
        ]
        if self.workers > 1:
            command += ["--workers", str(self.workers)]
        self._log = self.log_path.open("ab")
        self._process = subprocess.Popen(command, env=env, stdout=self._log, stderr=subprocess.STDOUT)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        with httpx.Client(base_url=self.url, timeout=5, follow_redirects=True) as client:
            while time.monotonic() < deadline:
                assert self._process is not None
                if self._process.poll() is not None:
                    raise StartError(f"the registry exited with {self._process.returncode}; see {self.log_path}")
                if self._ready(client):
                    return
                time.sleep(0.2)
        raise StartError(f"the registry was not ready within {START_TIMEOUT_SECONDS:.0f} s; see {self.log_path}")

    def _ready(self, client: httpx.Client) -> bool:
        try:
            if client.get("/readyz").status_code != 200:
                return False
            if self.embeddings == "off":
                return True
            return self.metric("dhg_registry_embedder_available", client) == 1.0
        except httpx.TransportError:
            return False

    def metric(self, name: str, client: httpx.Client | None = None) -> float | None:
        """The value of an unlabelled gauge or counter on /metrics, or None when absent."""
        if client is None:
            with httpx.Client(base_url=self.url, timeout=10, follow_redirects=True) as own:
                return self.metric(name, own)
        for line in client.get("/metrics").text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return None

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 20 s); safe to call twice."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None
