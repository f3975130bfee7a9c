"""`dhg status`: is the local stack up, and where is its data."""

from __future__ import annotations

import httpx
import typer
from rich.markup import escape

from dhg.api import registry_client
from dhg.asr_client import AsrClient
from dhg.commands.options import (
    AsrUrlOption,
    DataDirOption,
    PrometheusUrlOption,
    RegistryUrlOption,
    data_dir_from,
    resolve_asr_url,
    resolve_prometheus_url,
    resolve_registry_url,
)
from dhg.datadir import read_admin_token, read_state
from dhg.errors import DhgError
from dhg.monitoring import Alert, firing_alerts
from dhg.output import console

NOT_UP_EXIT_CODE = 1
PROBE_TIMEOUT_SECONDS = 3.0


def _registry_readiness(url: str) -> tuple[str, bool]:
    try:
        with registry_client(url, timeout=PROBE_TIMEOUT_SECONDS) as client:
            ready = client.readiness()
    except DhgError as error:
        return f"not ready: {error}", False
    return f"ready (schema {ready.get('schema', '?')})", True


def _asr_readiness(url: str) -> tuple[str, bool]:
    with AsrClient(url, timeout=PROBE_TIMEOUT_SECONDS) as client:
        try:
            ready = client.readiness()
        except DhgError as error:
            return f"not ready: {error}", False
    return f"ready ({ready.get('model', '?')}, {ready.get('engine', '?')} on {ready.get('device', '?')})", True


def _alerts(url: str) -> tuple[str, list[Alert]]:
    try:
        firing = firing_alerts(url, timeout=PROBE_TIMEOUT_SECONDS)
    except (httpx.HTTPError, KeyError, ValueError) as error:
        return f"{url}: not answering ({type(error).__name__})", []
    if not firing:
        return f"{url}: no alerts firing", []
    return f"{url}: {len(firing)} alert(s) firing", firing


def status(
    data_dir: DataDirOption = None,
    registry_url: RegistryUrlOption = None,
    asr_url: AsrUrlOption = None,
    prometheus_url: PrometheusUrlOption = None,
) -> None:
    """Whether the Registry and the ASR service answer /readyz, what `dhg up` runs, where the data is, and
    (with `dhg up --monitoring`) the alerts firing; exits 1 when either service is not ready."""
    directory = data_dir_from(data_dir)
    registry = resolve_registry_url(registry_url, directory)
    asr = resolve_asr_url(asr_url, directory)
    registry_state, registry_ready = _registry_readiness(registry)
    asr_state, asr_ready = _asr_readiness(asr)
    state = read_state(directory)
    running = (
        (
            f"pid {state.pid} since {state.started_at}; Registry pid {state.registry_pid}, "
            f"ASR service pid {state.asr_pid or '?'}, Postgres on 127.0.0.1:{state.postgres_port}"
        )
        if state
        else "not running on this data dir"
    )
    rows = [
        ("Registry", f"{registry}: {registry_state}"),
        ("ASR service", f"{asr}: {asr_state}"),
        ("dhg up", running),
        ("data dir", str(directory.root)),
        (
            "admin token",
            str(directory.admin_token_file)
            if read_admin_token(directory)
            else "none yet (the first `dhg up` creates it)",
        ),
        ("logs", f"{directory.registry_log}, {directory.asr_log}, {directory.postgres_log}, {directory.runner_log}"),
    ]
    firing: list[Alert] = []
    if prometheus := resolve_prometheus_url(prometheus_url, directory):
        summary, firing = _alerts(prometheus)
        rows.append(("Prometheus", summary))
    for label, value in rows:
        console.print(f"{label:<12} {escape(value)}")
    for alert in firing:
        console.print(f"  {escape(alert.severity):<9} {escape(alert.name)}: {escape(alert.summary)}")
    if not (registry_ready and asr_ready):
        raise typer.Exit(NOT_UP_EXIT_CODE)
