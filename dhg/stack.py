"""The local stack `dhg up` runs: an embedded Postgres, the Registry's migrations, the Registry, the ASR service,
and with monitoring a Prometheus scraping both."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Self

import yaml

from asr.devices import cuda_available
from dhg import logs, monitoring
from dhg.datadir import (
    DataDir,
    StackState,
    load_or_create_admin_token,
    load_or_create_asr_api_key,
    read_state,
    remove_state,
    write_state,
)
from dhg.errors import PortInUse, StackError
from dhg.jobs import store as jobstore
from dhg.jobs.runner import LocalRunner, default_parallel
from dhg.postgres import EmbeddedPostgres, PostgresError
from dhg.processes import DataDirLock, ensure_port_free, stop_leftover_postgres, stop_leftover_service
from dhg.services import HOST, ChildService
from dhg.settings import DEFAULT_PROMETHEUS_PORT, inherited_environment
from dhg.stack_config import (
    ASR_ARGUMENTS,
    REGISTRY_ARGUMENTS,
    asr_command,
    asr_environment,
    model_environment,
    registry_command,
    registry_environment,
    service_tokens,
)
from dhg.supervisor import Part, RestartPolicy, Supervisor

log = logging.getLogger("dhg.up")

STATE_POLL_SECONDS = 0.5
# SIGTERM or Ctrl-C stops everything within 10 s, whatever state the parts are in: the workers and the services get
# SIGTERM at once and SIGKILL after SERVICES_STOP_SECONDS; then Postgres, fast, immediate, or killed.
SERVICES_STOP_SECONDS = 5.0
POSTGRES_STOP_SECONDS = 2.0


def _quiet(message: str) -> None:
    pass


@dataclass
class LocalStack:
    """Postgres, the Registry and the ASR service over one data dir; `with LocalStack(...)` starts them all
    and always stops them all."""

    data_dir: DataDir
    registry_port: int
    asr_port: int
    postgres_port: int = 0
    start_timeout: float = 90.0
    report: Callable[[str], None] = _quiet
    asr_api_key: str | None = None  # None: the key kept in the data dir (created on first use)
    admin_token: str = ""
    service_tokens: dict[str, str] = field(default_factory=service_tokens)
    monitoring: bool = False
    prometheus_port: int = DEFAULT_PROMETHEUS_PORT
    parallel: int = 0  # TranscriptionJob workers at once (0: one per two cores)
    warm_worker: bool = True  # a worker's interpreter started ahead of the next job (dhg.jobs.warm)
    data_root: Path | None = None  # where a TranscriptionJob's /data paths point (default: the current directory)
    default_model: str | None = None  # the model requests without one get (None: the ASR settings' default)
    postgres: EmbeddedPostgres | None = None
    runner: LocalRunner | None = None
    registry: ChildService = field(init=False)
    asr: ChildService = field(init=False)
    prometheus: ChildService = field(init=False)
    restart_policy: RestartPolicy = field(default_factory=RestartPolicy)
    _lock: DataDirLock | None = field(default=None, repr=False)
    _started_at: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        log_paths = (self.data_dir.registry_log, self.data_dir.asr_log, self.data_dir.prometheus_log)
        self.registry = ChildService("the Registry", self.registry_port, log_paths[0], ready_timeout=self.start_timeout)
        self.asr = ChildService("the ASR service", self.asr_port, log_paths[1], ready_timeout=self.start_timeout)
        self.prometheus = ChildService(
            "Prometheus", self.prometheus_port, log_paths[2], "/-/ready", ready_timeout=self.start_timeout
        )

    @property
    def registry_url(self) -> str:
        return self.registry.url

    @property
    def asr_url(self) -> str:
        return self.asr.url

    def start(self) -> None:
        """Start everything, in order; raises a DhgError naming the part that failed."""
        prometheus = monitoring.find_prometheus() if self.monitoring else None  # before anything starts
        self.data_dir.create()
        self._started_at = datetime.now(UTC).isoformat(timespec="seconds")
        lock = DataDirLock(self.data_dir.lock_file)
        lock.acquire()
        self._lock = lock
        self._stop_leftovers()  # first: a leftover service may be what holds our port
        self._check_ports()
        self.admin_token = load_or_create_admin_token(self.data_dir)
        self.asr_api_key = self.asr_api_key or load_or_create_asr_api_key(self.data_dir)
        self._start_postgres()
        self._migrate()
        self._start_services()
        self.registry.wait_ready(self.start_timeout)
        self.asr.wait_ready(self.start_timeout)
        self._start_runner()
        if prometheus is not None:
            self._start_prometheus(prometheus)

    def _check_ports(self) -> None:
        if self.asr_port == self.registry_port:
            raise PortInUse(f"the Registry and the ASR service cannot share port {self.asr_port}; choose another")
        ensure_port_free(HOST, self.registry_port, what="the Registry", option="--registry-port")
        ensure_port_free(HOST, self.asr_port, what="the ASR service", option="--asr-port")
        if self.postgres_port:
            ensure_port_free(HOST, self.postgres_port, what="Postgres", option="--postgres-port")
        if self.monitoring:
            ensure_port_free(HOST, self.prometheus_port, what="Prometheus", option="--prometheus-port")

    def _stop_leftovers(self) -> None:
        # we hold the lock, so whatever an earlier `dhg up` recorded is no longer looked after by it
        state = read_state(self.data_dir)
        config = (f"--config.file={self.data_dir.prometheus_config}",)
        if state is not None and state.prometheus_pid and stop_leftover_service(state.prometheus_pid, config):
            self.report(f"stopped a Prometheus (pid {state.prometheus_pid}) an earlier `dhg up` left running")
        if state is not None and state.asr_pid and stop_leftover_service(state.asr_pid, ASR_ARGUMENTS):
            self.report(f"stopped an ASR service (pid {state.asr_pid}) an earlier `dhg up` left running")
        if state is not None and stop_leftover_service(state.registry_pid, REGISTRY_ARGUMENTS):
            self.report(f"stopped a Registry (pid {state.registry_pid}) an earlier `dhg up` left running")
        if stop_leftover_postgres(self.data_dir.postgres):
            self.report("stopped a Postgres an earlier `dhg up` left running on this data dir")
        remove_state(self.data_dir)

    def _start_postgres(self) -> None:
        self.report("starting Postgres")
        self.postgres = EmbeddedPostgres(self.data_dir.postgres, port=self.postgres_port)
        try:
            self.postgres.start()
            self.postgres.ensure_database(jobstore.DATABASE)  # local TranscriptionJobs (dhg apply)
            jobstore.JobStore(jobstore.connection_url(self.postgres.port))  # its tables, before any command
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

    def _start_services(self) -> None:
        """Start the Registry, then the ASR service while the Registry gets ready (results wait in the
        ASR service's outbox until the Registry answers); record both so a crashed run's are found."""
        assert self.postgres is not None and self.asr_api_key is not None
        self.report(f"starting the Registry on {self.registry_url}")
        self.registry.spawn(
            registry_command(self.registry_port),
            registry_environment(
                database_url=self.postgres.url,
                data_dir=self.data_dir,
                admin_token=self.admin_token,
                services=self.service_tokens,
                asr_url=self.asr_url,
            ),
            cwd=self.data_dir.root,
        )
        self.report(f"starting the ASR service on {self.asr_url}")
        self.asr.spawn(
            asr_command(self.asr_port),
            asr_environment(
                registry_url=self.registry_url,
                data_dir=self.data_dir,
                token=self.service_tokens["asr"],
                api_key=self.asr_api_key,
                default_model=self.default_model,
            ),
            cwd=self.data_dir.root,
        )
        self._write_state()

    def _start_runner(self) -> None:
        """The TranscriptionJob runner (`dhg apply`), in this process: the operator's loop over local workers."""
        assert self.postgres is not None
        data_root = (self.data_root or Path.cwd()).expanduser().resolve()
        has_gpu = cuda_available("faster-whisper")
        self.runner = LocalRunner(
            jobstore.JobStore(jobstore.connection_url(self.postgres.port)),
            registry_url=self.registry_url,
            token=self.service_tokens["controller"],
            worker_token=self.service_tokens["worker"],
            jobs_dir=self.data_dir.jobs,
            data_root=data_root,
            parallel=self.parallel or default_parallel(),
            has_gpu=has_gpu,
            warm=self.warm_worker,
            environment=model_environment(self.default_model),
        )
        self.report(
            f"running TranscriptionJobs (dhg apply): {self.runner.parallel} at once, "
            f"{'a GPU' if has_gpu else 'no GPU'}, source paths under {data_root}"
        )
        self.runner.start()

    def _start_prometheus(self, binary: Path) -> None:
        """Prometheus scraping the Registry and the ASR service (jobs and namespace as in a cluster), with the
        chart's rules; its time series stay in the data dir between runs."""
        rules = monitoring.write_rules(self.data_dir.rules)
        targets = {"registry": [f"{HOST}:{self.registry_port}"], "asr": [f"{HOST}:{self.asr_port}"]}
        config = monitoring.scrape_config(targets, rule_files=rules)
        self.data_dir.prometheus_config.write_text(yaml.safe_dump(config, sort_keys=False))
        self.data_dir.prometheus.mkdir(parents=True, exist_ok=True)
        self.report(f"starting Prometheus on {self.prometheus.url}")
        arguments = monitoring.prometheus_arguments(
            self.data_dir.prometheus_config, self.data_dir.prometheus, f"{HOST}:{self.prometheus_port}"
        )
        self.prometheus.spawn([str(binary), *arguments], inherited_environment(), cwd=self.data_dir.root)
        self._write_state()
        self.prometheus.wait_ready(self.start_timeout)

    def _write_state(self) -> None:
        """Record what runs, so that `dhg status` finds it and a crashed run's processes are found."""
        assert self.registry.pid is not None and self.postgres is not None
        write_state(
            self.data_dir,
            StackState(
                pid=os.getpid(),
                registry_pid=self.registry.pid,
                registry_url=self.registry_url,
                postgres_port=self.postgres.port,
                started_at=self._started_at,
                asr_pid=self.asr.pid,
                asr_url=self.asr_url,
                prometheus_pid=self.prometheus.pid,
                prometheus_url=self.prometheus.url if self.prometheus.pid else None,
            ),
        )

    def parts(self) -> list[Part]:
        """What `wait` keeps alive, in the order they depend on each other."""
        parts: list[Part] = [PostgresPart(self), self.registry, self.asr]
        if self.prometheus.process is not None:
            parts.append(self.prometheus)
        return [*parts, RunnerPart(self)]

    def wait(self) -> None:
        """Serve until interrupted, restarting a part that dies (in one line each, with backoff); StackError when
        one keeps dying (`restart_policy`), naming its log."""

        def report(message: str) -> None:
            self.report(message)
            log.log(logging.INFO if message.endswith(" is running again") else logging.WARNING, message)

        # the new pids go in the state before a restart is said: for `dhg status` and the next start's leftovers
        supervisor = Supervisor(self.parts(), report, self.restart_policy, restarted=lambda part: self._write_state())
        while True:
            supervisor.check()
            time.sleep(STATE_POLL_SECONDS)

    def stop(self) -> None:
        """Stop the runner and its workers, the ASR service, the Registry, then Postgres, within 10 s whatever state
        they are in (SIGTERM to all at once, SIGKILL to what is left); safe after a partial start, and twice."""
        deadline = time.monotonic() + SERVICES_STOP_SECONDS
        runner, self.runner = self.runner, None
        if runner is not None:
            self.report("stopping the TranscriptionJob runner")
            runner.begin_stop()
        services = [service for service in (self.prometheus, self.asr, self.registry) if service.running]
        for service in services:
            self.report(f"stopping {service.name}")
            service.begin_stop()
        if runner is not None:
            runner.finish_stop(deadline)
        for service in services:
            service.finish_stop(deadline)
        if self.postgres is not None:
            self.report("stopping Postgres")
            try:
                self.postgres.stop(timeout=POSTGRES_STOP_SECONDS)
            except PostgresError as error:
                self.report(f"Postgres did not stop: {error}")
            self.postgres = None
        if self._lock is not None:
            remove_state(self.data_dir)
            self._lock.release()
            self._lock = None

    def restart_postgres(self) -> None:
        """Start Postgres again on its data dir and port (the Registry and the runner reconnect by themselves)."""
        assert self.postgres is not None
        try:
            self.postgres.start()
        except PostgresError as error:
            raise StackError(f"Postgres did not start: {error}") from error

    def restart_runner(self) -> None:
        """A new runner in place of one whose loop ended: the old one's workers stopped first (the new one launches
        what is missing again, as after a restart of `dhg up`)."""
        if self.runner is not None:
            self.runner.stop()
            self.runner = None
        self._start_runner()

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class PostgresPart:
    """The embedded Postgres, as the supervisor sees it (not our child: pg_ctl starts it in the background)."""

    stack: LocalStack
    name: str = "Postgres"

    @property
    def log_path(self) -> Path:
        return self.stack.data_dir.postgres_log

    def ended(self) -> str | None:
        postgres = self.stack.postgres
        return None if postgres is None or postgres.alive() else "is no longer running"

    def restart(self) -> None:
        self.stack.restart_postgres()


@dataclass
class RunnerPart:
    """The TranscriptionJob runner's loop, a thread of `dhg up`."""

    stack: LocalStack
    name: str = "the TranscriptionJob runner"

    @property
    def log_path(self) -> Path:
        return self.stack.data_dir.runner_log

    def ended(self) -> str | None:
        runner = self.stack.runner
        return None if runner is None or runner.alive else "stopped"

    def restart(self) -> None:
        self.stack.restart_runner()
