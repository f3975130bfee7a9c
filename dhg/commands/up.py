"""`dhg up`: start the local stack, show it working on the sample, serve until Ctrl-C."""

from __future__ import annotations

import logging
import signal
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from asr.outbox import Outbox
from dhg.api import registry_client
from dhg.asr_client import AsrClient
from dhg.commands.options import DataDirOption, data_dir_from
from dhg.datadir import DataDir, read_viewer_token, write_viewer_token
from dhg.demo import DemoResult, run_demo
from dhg.errors import AsrRefused, AsrUnreachable, DhgError, RegistryRefused, StackError, TranscriptNotStored
from dhg.output import NextSteps, console, show_demo, show_next_steps
from dhg.settings import Settings, default_data_dir, get_settings

if TYPE_CHECKING:
    from dhg.stack import LocalStack

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _stop_on_signals() -> None:
    """SIGTERM and SIGHUP stop `dhg up` as Ctrl-C does (SIGINT too when a shell started us ignoring it)."""
    for stop_signal in STOP_SIGNALS:
        signal.signal(stop_signal, _interrupt)


def _ignore_signals() -> None:
    """While the stack stops, a second Ctrl-C must not leave half of it running."""
    for stop_signal in STOP_SIGNALS:
        signal.signal(stop_signal, signal.SIG_IGN)


def _report(message: str) -> None:
    console.print(f"[dim]· {escape(message)}[/dim]")


class _OneLine(logging.Handler):
    """`dhg up`'s own warnings (its runner's failures) on the console as one line each; the details are in the log."""

    def emit(self, record: logging.LogRecord) -> None:
        if record.name != "dhg.up":  # the supervisor's lines are printed already
            _report(record.getMessage())


def _log_to(path: Path) -> None:
    """What `dhg up` itself logs (its runner, the supervisor) goes to `path` as JSON lines, warnings to the console."""
    from dhg_core.logs import JsonFormatter

    path.parent.mkdir(parents=True, exist_ok=True)
    to_file = logging.FileHandler(path)
    to_file.setFormatter(JsonFormatter("dhg-up"))
    to_console = _OneLine(logging.WARNING)
    logger = logging.getLogger("dhg")
    logger.handlers[:] = [to_file, to_console]
    logger.setLevel(logging.INFO)
    logger.propagate = False


def _demo(stack: LocalStack, settings: Settings) -> DemoResult:
    """Run the sample through the stack; a failure says which service's log to read."""
    assert stack.asr_api_key is not None
    asr = AsrClient(stack.asr_url, stack.asr_api_key, timeout=settings.transcribe_timeout_seconds)
    with registry_client(stack.registry_url, stack.admin_token, timeout=settings.http_timeout_seconds) as registry, asr:
        try:
            result = run_demo(
                registry,
                asr,
                store_timeout=settings.store_timeout_seconds,
                search_timeout=settings.search_timeout_seconds,
                outbox=Outbox(stack.data_dir.asr_outbox),
            )
        except (AsrUnreachable, AsrRefused, TranscriptNotStored) as error:
            raise StackError(f"the sample did not go through: {error}; {stack.asr.log_tail()}") from error
    show_demo(result)
    return result


VIEWER_TOKEN_NAME = "viewer (dhg up)"  # noqa: S105 (a name, not a secret)


def _viewer_token(stack: LocalStack, settings: Settings) -> str:
    """The read-only token of the viewer link: the one kept in the data dir while the Registry still takes it (a new
    database, or a revoked token, gets a new one)."""
    kept = read_viewer_token(stack.data_dir)
    if kept:
        try:
            with registry_client(stack.registry_url, kept, timeout=settings.http_timeout_seconds) as viewer:
                viewer.list_transcripts(limit=1)
            return kept
        except RegistryRefused as error:
            if error.status != 401:
                raise
    with registry_client(stack.registry_url, stack.admin_token, timeout=settings.http_timeout_seconds) as admin:
        created = admin.create_token(VIEWER_TOKEN_NAME, ["read"])
    write_viewer_token(stack.data_dir, created.token)
    return created.token


def _check_model(model: str | None) -> None:
    """`--model` names a model the ASR service serves (its settings, as it will read them), or fails now."""
    if model is None:
        return
    from asr.settings import Settings

    served = Settings().models
    if model not in served:
        raise DhgError(f"--model {model!r} is not a model the ASR service serves; choose one of: {', '.join(served)}")


RegistryPortOption = Annotated[
    int | None,
    typer.Option(help="Port of the Registry on 127.0.0.1 (env DHG_REGISTRY_PORT; default 8000).", show_default=False),
]
AsrPortOption = Annotated[
    int | None,
    typer.Option(help="Port of the ASR service on 127.0.0.1 (env DHG_ASR_PORT; default 8001).", show_default=False),
]
PostgresPortOption = Annotated[
    int | None, typer.Option(help="Port of Postgres on 127.0.0.1 (default: a free one).", show_default=False)
]
ExitAfterSampleOption = Annotated[
    bool, typer.Option("--exit-after-sample", help="Stop everything after the sample instead of serving.")
]
MonitoringOption = Annotated[
    bool | None,
    typer.Option(
        "--monitoring/--no-monitoring",
        help="Also start Prometheus (the distribution's package) on 127.0.0.1, scraping both services with "
        "the chart's recording and alerting rules; `dhg status` shows what fires (env DHG_MONITORING).",
        show_default=False,
    ),
]
PrometheusPortOption = Annotated[
    int | None,
    typer.Option(help="Port of Prometheus on 127.0.0.1 (env DHG_PROMETHEUS_PORT; default 9090).", show_default=False),
]
ParallelOption = Annotated[
    int | None,
    typer.Option(
        help="TranscriptionJob workers at once (env DHG_PARALLEL; default: one per two cores).",
        show_default=False,
        min=1,
    ),
]
DataRootOption = Annotated[
    Path | None,
    typer.Option(
        help="Where a TranscriptionJob's source.path (/data/...) points here (env DHG_DATA_ROOT; default: the "
        "current directory); paths outside it are refused.",
        show_default=False,
    ),
]
StartTimeoutOption = Annotated[
    float | None,
    typer.Option(help="Seconds to wait for each service to become ready (default 90).", show_default=False),
]
ModelOption = Annotated[
    str | None,
    typer.Option(
        help="The model requests without one (or naming whisper-1 and the other aliases) get: base (multilingual, "
        "the default) or tiny.en (English only, faster); `dhg models` lists them (env DHG_ASR_DEFAULT_MODEL).",
        show_default=False,
    ),
]


def up(
    data_dir: DataDirOption = None,
    registry_port: RegistryPortOption = None,
    asr_port: AsrPortOption = None,
    postgres_port: PostgresPortOption = None,
    exit_after_sample: ExitAfterSampleOption = False,
    monitoring: MonitoringOption = None,
    prometheus_port: PrometheusPortOption = None,
    parallel: ParallelOption = None,
    data_root: DataRootOption = None,
    start_timeout: StartTimeoutOption = None,
    model: ModelOption = None,
) -> None:
    """Start Postgres, the Registry and the ASR service locally (with --monitoring, Prometheus too), transcribe
    the bundled sample through them, and serve until Ctrl-C."""
    settings = get_settings()
    _check_model(model)
    directory = data_dir_from(data_dir)
    stack = _stack(
        directory,
        settings,
        registry_port=registry_port,
        asr_port=asr_port,
        postgres_port=postgres_port,
        start_timeout=start_timeout,
        monitoring=monitoring,
        prometheus_port=prometheus_port,
        parallel=parallel,
        data_root=data_root,
        model=model,
    )
    console.print(f"dhg local mode, data in {escape(str(directory.root))}")
    _log_to(directory.runner_log)
    _stop_on_signals()
    try:
        stack.start()
        demo = _demo(stack, settings)
        _show_next_steps(stack, directory, settings)
        if demo.refused and exit_after_sample:
            raise StackError(f"the Registry refused the sample's transcript: {demo.refused}")
        if not exit_after_sample:
            _serve(stack)
    except KeyboardInterrupt:
        console.print("\nstopping")
    finally:
        _ignore_signals()
        stack.stop()


def _stack(
    directory: DataDir,
    settings: Settings,
    *,
    registry_port: int | None,
    asr_port: int | None,
    postgres_port: int | None,
    start_timeout: float | None,
    monitoring: bool | None,
    prometheus_port: int | None,
    parallel: int | None,
    data_root: Path | None,
    model: str | None,
) -> LocalStack:
    """The stack the options ask for, each option falling back to its setting (DHG_* environment)."""
    from dhg.stack import LocalStack  # here: the other commands start without the services' imports

    return LocalStack(
        directory,
        registry_port=registry_port or settings.registry_port,
        asr_port=asr_port or settings.asr_port,
        asr_api_key=settings.asr_api_key.get_secret_value() if settings.asr_api_key else None,
        postgres_port=settings.postgres_port if postgres_port is None else postgres_port,
        start_timeout=start_timeout or settings.start_timeout_seconds,
        monitoring=settings.monitoring if monitoring is None else monitoring,
        prometheus_port=prometheus_port or settings.prometheus_port,
        parallel=parallel or settings.parallel,
        warm_worker=settings.warm_worker,
        data_root=data_root or settings.data_root,
        default_model=model,
        report=_report,
    )


def _show_next_steps(stack: LocalStack, directory: DataDir, settings: Settings) -> None:
    """What to try next: the URLs, the tokens, the viewer's link, the commands with this data dir."""
    assert stack.asr_api_key is not None
    options = "" if directory.root == default_data_dir().resolve() else f" --data-dir {directory.root}"
    prometheus = stack.prometheus.url if stack.monitoring else None
    steps = NextSteps(
        stack.registry_url,
        stack.asr_url,
        stack.admin_token,
        stack.asr_api_key,
        _viewer_token(stack, settings),
        options,
        prometheus,
    )
    show_next_steps(steps, directory)


def _serve(stack: LocalStack) -> None:
    """Say what serves where, then supervise the stack until Ctrl-C (or SIGTERM, SIGHUP)."""
    serving = f"the Registry on {stack.registry_url} and the ASR service on {stack.asr_url}"
    if stack.monitoring:
        serving = f"{serving}, monitored by Prometheus on {stack.prometheus.url}"
    console.print(f"\nserving {serving}")
    console.print("press Ctrl-C to stop")
    stack.wait()
