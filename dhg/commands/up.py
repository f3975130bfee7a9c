"""`dhg up`: start the local stack, show it working on the sample, serve until Ctrl-C."""

from __future__ import annotations

import signal
from types import FrameType
from typing import Annotated

import typer
from rich.markup import escape

from dhg.api import RegistryClient
from dhg.commands.options import DataDirOption, data_dir_from
from dhg.demo import run_demo
from dhg.output import console, show_demo, show_next_steps
from dhg.settings import default_data_dir, get_settings
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


def up(
    data_dir: DataDirOption = None,
    registry_port: Annotated[
        int | None,
        typer.Option(
            help="Port of the Registry on 127.0.0.1 (env DHG_REGISTRY_PORT; default 8000).", show_default=False
        ),
    ] = None,
    postgres_port: Annotated[
        int | None, typer.Option(help="Port of Postgres on 127.0.0.1 (default: a free one).", show_default=False)
    ] = None,
    exit_after_sample: Annotated[
        bool, typer.Option("--exit-after-sample", help="Stop everything after the sample instead of serving.")
    ] = False,
    start_timeout: Annotated[
        float | None,
        typer.Option(help="Seconds to wait for the Registry to become ready (default 90).", show_default=False),
    ] = None,
) -> None:
    """Start Postgres and the Registry locally, run the sample through them, and serve until Ctrl-C."""
    settings = get_settings()
    directory = data_dir_from(data_dir)
    stack = LocalStack(
        directory,
        registry_port=registry_port or settings.registry_port,
        postgres_port=settings.postgres_port if postgres_port is None else postgres_port,
        start_timeout=start_timeout or settings.start_timeout_seconds,
        report=_report,
    )
    console.print(f"dhg local mode, data in {escape(str(directory.root))}")
    _stop_on_signals()
    try:
        stack.start()
        client = RegistryClient(stack.registry_url, stack.admin_token, timeout=settings.http_timeout_seconds)
        with client:
            show_demo(run_demo(client, directory.samples))
        options = "" if directory.root == default_data_dir().resolve() else f" --data-dir {directory.root}"
        show_next_steps(
            registry_url=stack.registry_url, data_dir=directory, admin_token=stack.admin_token, cli_options=options
        )
        if not exit_after_sample:
            console.print(f"\nserving on {stack.registry_url}; press Ctrl-C to stop")
            stack.wait()
    except KeyboardInterrupt:
        console.print("\nstopping")
    finally:
        _ignore_signals()
        stack.stop()
