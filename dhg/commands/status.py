"""`dhg status`: is the local stack up, and where is its data."""

from __future__ import annotations

import typer
from rich.markup import escape

from dhg.api import RegistryClient
from dhg.commands.options import DataDirOption, RegistryUrlOption, data_dir_from, resolve_registry_url
from dhg.datadir import read_admin_token, read_state
from dhg.errors import DhgError
from dhg.output import console

NOT_UP_EXIT_CODE = 1
PROBE_TIMEOUT_SECONDS = 3.0


def status(data_dir: DataDirOption = None, registry_url: RegistryUrlOption = None) -> None:
    """Whether the Registry answers /readyz, what `dhg up` runs, where the data is; exits 1 when down."""
    directory = data_dir_from(data_dir)
    url = resolve_registry_url(registry_url, directory)
    with RegistryClient(url, timeout=PROBE_TIMEOUT_SECONDS) as client:
        try:
            readiness = f"ready (schema {client.readiness().get('schema', '?')})"
            ready = True
        except DhgError as error:
            readiness, ready = f"not ready: {error}", False
    state = read_state(directory)
    running = (
        (
            f"pid {state.pid} since {state.started_at}; Registry pid {state.registry_pid}, "
            f"Postgres on 127.0.0.1:{state.postgres_port}"
        )
        if state
        else "not running on this data dir"
    )
    rows = [
        ("Registry", f"{url}: {readiness}"),
        ("dhg up", running),
        ("data dir", str(directory.root)),
        (
            "admin token",
            str(directory.admin_token_file)
            if read_admin_token(directory)
            else "none yet (the first `dhg up` creates it)",
        ),
        ("logs", f"{directory.registry_log}, {directory.postgres_log}"),
    ]
    for label, value in rows:
        console.print(f"{label:<12} {escape(value)}")
    if not ready:
        raise typer.Exit(NOT_UP_EXIT_CODE)
