"""The local stack `dhg up` runs: an embedded Postgres, the Registry's migrations, the Registry itself."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Self

from dhg import logs
from dhg.api import RegistryClient
from dhg.datadir import DataDir, StackState, load_or_create_admin_token, read_state, remove_state, write_state
from dhg.errors import StackError
from dhg.postgres import EmbeddedPostgres, PostgresError
from dhg.processes import (
    DataDirLock,
    ensure_port_free,
    stop_leftover_postgres,
    stop_leftover_registry,
    terminate,
)

HOST = "127.0.0.1"
READY_POLL_SECONDS = 0.2
READY_PROBE_TIMEOUT_SECONDS = 2.0


def _quiet(message: str) -> None:
    pass


def registry_command(port: int) -> list[str]:
    """How the Registry is started: migrations already ran, so it must not run them again."""
    return [sys.executable, "-m", "registry", "serve", "--host", HOST, "--port", str(port), "--no-migrate-first"]


def registry_environment(*, database_url: str, data_dir: DataDir, admin_token: str) -> dict[str, str]:
    """Our environment (PATH, any DHG_REGISTRY_* the user set) with the settings local mode decides."""
    return {
        **os.environ,
        "DHG_REGISTRY_DATABASE_URL": database_url,
        "DHG_REGISTRY_STORAGE_DIR": str(data_dir.media),
        "DHG_REGISTRY_ADMIN_TOKEN": admin_token,
        "PYTHONUNBUFFERED": "1",  # so the log has the last lines when the Registry fails at start
    }


@dataclass
class LocalStack:
    """Postgres and the Registry over one data dir; `with LocalStack(...)` starts both, always stops both."""

    data_dir: DataDir
    registry_port: int
    postgres_port: int = 0
    start_timeout: float = 90.0
    report: Callable[[str], None] = _quiet
    admin_token: str = ""
    postgres: EmbeddedPostgres | None = None
    registry: subprocess.Popen[bytes] | None = None
    _log_offset: int = 0
    _lock: DataDirLock | None = field(default=None, repr=False)

    @property
    def registry_url(self) -> str:
        return f"http://{HOST}:{self.registry_port}"

    def start(self) -> None:
        """Start everything, in order; raises a DhgError naming the part that failed."""
        self.data_dir.create()
        lock = DataDirLock(self.data_dir.lock_file)
        lock.acquire()
        self._lock = lock
        self._stop_leftovers()  # first: a leftover Registry may be what holds our port
        ensure_port_free(HOST, self.registry_port, what="the Registry", option="--registry-port")
        if self.postgres_port:
            ensure_port_free(HOST, self.postgres_port, what="Postgres", option="--postgres-port")
        self.admin_token = load_or_create_admin_token(self.data_dir)
        self._start_postgres()
        self._migrate()
        self._start_registry()
        self._wait_ready()

    def _stop_leftovers(self) -> None:
        # we hold the lock, so whatever an earlier `dhg up` recorded is no longer looked after by it
        state = read_state(self.data_dir)
        if state is not None and stop_leftover_registry(state.registry_pid):
            self.report(f"stopped a Registry (pid {state.registry_pid}) an earlier `dhg up` left running")
        if stop_leftover_postgres(self.data_dir.postgres):
            self.report("stopped a Postgres an earlier `dhg up` left running on this data dir")
        remove_state(self.data_dir)

    def _start_postgres(self) -> None:
        self.report("starting Postgres")
        self.postgres = EmbeddedPostgres(self.data_dir.postgres, port=self.postgres_port)
        try:
            self.postgres.start()
        except PostgresError as error:
            raise StackError(
                f"Postgres did not start: {error}\n{logs.describe_tail(self.data_dir.postgres_log)}"
            ) from error

    def _migrate(self) -> None:
        from alembic.util.exc import CommandError
        from sqlalchemy.exc import SQLAlchemyError

        from registry import migrate

        assert self.postgres is not None
        self.report("running the Registry's migrations")
        try:
            migrate.upgrade(self.postgres.url)
        except (CommandError, SQLAlchemyError) as error:
            raise StackError(f"the Registry's migrations failed: {error}") from error

    def _start_registry(self) -> None:
        assert self.postgres is not None
        self.report(f"starting the Registry on {self.registry_url}")
        log_path = self.data_dir.registry_log
        with log_path.open("ab") as log:
            log.write(
                f"--- dhg up (pid {os.getpid()}) starting the Registry at "
                f"{datetime.now(UTC).isoformat(timespec='seconds')}\n".encode()
            )
            log.flush()
            self._log_offset = log.tell()
            environment = registry_environment(
                database_url=self.postgres.url, data_dir=self.data_dir, admin_token=self.admin_token
            )
            # its own session, so Ctrl-C reaches only us and we stop the parts in order
            self.registry = subprocess.Popen(
                registry_command(self.registry_port),
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.data_dir.root,
                start_new_session=True,
            )

    def _wait_ready(self) -> None:
        assert self.registry is not None and self.postgres is not None
        deadline = time.monotonic() + self.start_timeout
        with RegistryClient(self.registry_url, timeout=READY_PROBE_TIMEOUT_SECONDS) as client:
            while not client.is_ready():
                if self.registry.poll() is not None:
                    raise StackError(
                        f"the Registry exited with status {self.registry.returncode} while "
                        f"starting; {self._registry_log_tail()}"
                    )
                if time.monotonic() > deadline:
                    raise StackError(
                        f"the Registry did not become ready within {self.start_timeout:g} s; "
                        f"{self._registry_log_tail()}"
                    )
                time.sleep(READY_POLL_SECONDS)
        write_state(
            self.data_dir,
            StackState(
                pid=os.getpid(),
                registry_pid=self.registry.pid,
                registry_url=self.registry_url,
                postgres_port=self.postgres.port,
                started_at=datetime.now(UTC).isoformat(timespec="seconds"),
            ),
        )

    def _registry_log_tail(self) -> str:
        return logs.describe_tail(self.data_dir.registry_log, offset=self._log_offset)

    def wait(self) -> None:
        """Block while the Registry runs; raises StackError if it dies on its own."""
        assert self.registry is not None
        status = self.registry.wait()
        raise StackError(f"the Registry stopped unexpectedly (status {status}); {self._registry_log_tail()}")

    def stop(self) -> None:
        """Stop the Registry, then Postgres; safe to call after a partial start, and twice."""
        if self.registry is not None and self.registry.poll() is None:
            self.report("stopping the Registry")
            terminate(self.registry)
        if self.postgres is not None:
            self.report("stopping Postgres")
            self.postgres.stop()
            self.postgres = None
        if self._lock is not None:
            remove_state(self.data_dir)
            self._lock.release()
            self._lock = None

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
