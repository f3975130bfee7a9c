"""`dhg apply`, `dhg get tj`, `dhg describe tj`, `dhg delete tj`: TranscriptionJob manifests in local mode, as
kubectl handles them on a cluster (the same manifests, the same validation, the same columns)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Annotated, Any

import psycopg
import typer
import yaml
from rich.markup import escape

from controller.crd import PRINTER_COLUMNS
from controller.model import GROUP, KIND, PLURAL, SHORT_NAMES, SINGULAR, TranscriptionJob
from dhg.commands.options import DataDirOption, data_dir_from
from dhg.datadir import read_state
from dhg.errors import DhgError
from dhg.jobs.manifests import DEFAULT_NAMESPACE, ManifestError, read_documents, spec_of, validate
from dhg.jobs.store import Applied, JobStore, connection_url
from dhg.output import console
from dhg_core.vocabulary import TERMINAL_PHASES

RESOURCE_NAMES = {*SHORT_NAMES, SINGULAR, PLURAL, f"{PLURAL}.{GROUP}"}
OutputFormat = typer.Option("--output", "-o", help="wide, yaml or json (default: the table).", show_default=False)
NamespaceOption = Annotated[
    str | None,
    typer.Option("--namespace", "-n", help=f"The namespace (default: {DEFAULT_NAMESPACE}).", show_default=False),
]


class InvalidManifest(DhgError):
    """A manifest that cannot be applied; nothing of its file was applied."""


class NotFound(DhgError):
    pass


def open_store(data_dir: DataDirOption) -> JobStore:
    directory = data_dir_from(data_dir)
    state = read_state(directory)
    if state is None:
        raise DhgError(f"local mode is not running for {directory.root}: start it with `dhg up`")
    try:
        return JobStore(connection_url(state.postgres_port))
    except (OSError, psycopg.Error) as error:
        raise DhgError(f"local mode's PostgreSQL does not answer (is `dhg up` running?): {error}") from error


def check_resource(name: str) -> None:
    if name.lower() not in RESOURCE_NAMES:
        raise DhgError(f'the server doesn\'t have a resource type "{name}" (local mode has {PLURAL}, short: tj)')


def apply(
    filenames: Annotated[
        list[str],
        typer.Option(
            "--filename", "-f", help="A manifest file, a directory of them, or - for stdin.", show_default=False
        ),
    ],
    namespace: NamespaceOption = None,
    continue_on_error: Annotated[
        bool, typer.Option("--continue-on-error", help="Apply the valid documents even if some are not.")
    ] = False,
    wait_for_end: Annotated[
        bool, typer.Option("--wait", help="Follow the jobs (a progress bar) until each has ended.")
    ] = False,
    timeout: Annotated[str, typer.Option(help="With --wait: how long to follow them (30s, 5m, 1h).")] = "1h",
    data_dir: DataDirOption = None,
) -> None:
    """Create TranscriptionJobs from manifests, as `kubectl apply -f` does on a cluster."""
    try:
        documents = read_documents(filenames)
    except ManifestError as error:
        raise InvalidManifest(str(error)) from error
    manifests, problems = [], []
    for document in documents:
        try:
            manifests.append(validate(document, namespace))
        except ManifestError as error:
            problems.append(error)
    if problems and not continue_on_error:
        raise InvalidManifest("; ".join(str(p) for p in problems) + " (nothing was applied)")
    store = open_store(data_dir)
    try:
        applied = store.apply(manifests, continue_on_error=continue_on_error)
    except ManifestError as error:
        raise InvalidManifest(f"{error} (nothing was applied)") from error
    results: list[Applied | ManifestError] = [*problems, *applied]
    refused = [r for r in results if isinstance(r, ManifestError)]
    for result in results:
        if isinstance(result, Applied):
            console.print(f"{SINGULAR}.{GROUP}/{escape(result.name)} {result.outcome}")
    if refused:
        raise InvalidManifest("; ".join(str(r) for r in refused))
    if wait_for_end:
        from dhg.commands.follow import duration, follow  # it imports this module's helpers

        followed = [(r.namespace, r.name) for r in results if isinstance(r, Applied)]
        follow(store, followed, duration(timeout))


def field_at(document: dict[str, Any], json_path: str) -> Any:
    value: Any = document
    for part in json_path.lstrip(".").split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _age(created: str | None, now: datetime) -> str:
    """kubectl's short ages: 45s, 12m, 5h, 3d."""
    if not created:
        return "<unknown>"
    seconds = max(0, int((now - datetime.fromisoformat(created.replace("Z", "+00:00"))).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= 2 * size or (unit == "m" and seconds >= size):
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _cell(document: dict[str, Any], column: dict[str, Any], now: datetime) -> str:
    value = field_at(document, column["jsonPath"])
    if column["type"] == "date":
        return _age(value, now)
    return "" if value is None else str(value)


def table(documents: list[dict[str, Any]], *, wide: bool, namespaces: bool = False) -> list[list[str]]:
    """The CRD's printer columns (priority 1 only when wide), after NAME (and NAMESPACE), as kubectl prints them."""
    columns = [c for c in PRINTER_COLUMNS if wide or not c.get("priority")]
    header = [*(["NAMESPACE"] if namespaces else []), "NAME", *(c["name"].upper() for c in columns)]
    now = datetime.now(UTC)
    rows = [header]
    for document in documents:
        meta = document["metadata"]
        rows.append(
            [*([meta["namespace"]] if namespaces else []), meta["name"], *(_cell(document, c, now) for c in columns)]
        )
    return rows


def _print_table(rows: list[list[str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        console.print(escape("   ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()))


def get(
    resource: Annotated[str, typer.Argument(help="tj (transcriptionjobs)", show_default=False)],
    name: Annotated[str | None, typer.Argument(help="One object's name (default: all).", show_default=False)] = None,
    output: Annotated[str | None, OutputFormat] = None,
    namespace: NamespaceOption = None,
    all_namespaces: Annotated[bool, typer.Option("--all-namespaces", "-A", help="Every namespace.")] = False,
    data_dir: DataDirOption = None,
) -> None:
    """List TranscriptionJobs with the columns `kubectl get tj` shows."""
    check_resource(resource)
    if output not in (None, "wide", "yaml", "json"):
        raise DhgError(f"unable to match a printer suitable for the output format {output!r}: wide, yaml, json")
    store = open_store(data_dir)
    wanted = namespace or DEFAULT_NAMESPACE
    if name is not None:
        found = store.get(wanted, name)
        if found is None:
            raise NotFound(f'{PLURAL}.{GROUP} "{name}" not found')
        documents = [found]
    else:
        documents = store.objects(None if all_namespaces else wanted)
    if output in ("yaml", "json"):
        if name is None:
            body: Any = {"apiVersion": "v1", "kind": "List", "items": documents}
        else:
            body = documents[0]
        text = json.dumps(body, indent=4) if output == "json" else yaml.safe_dump(body, sort_keys=False)
        console.print(escape(text.rstrip()))
        return
    if not documents:
        console.print(f"No resources found in {wanted} namespace." if not all_namespaces else "No resources found")
        return
    _print_table(table(documents, wide=output == "wide", namespaces=all_namespaces))


def describe(
    resource: Annotated[str, typer.Argument(help="tj (transcriptionjobs)", show_default=False)],
    name: Annotated[str, typer.Argument(help="The object's name.", show_default=False)],
    namespace: NamespaceOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """The object's spec, status, conditions and Events, as `kubectl describe tj` shows them."""
    check_resource(resource)
    store = open_store(data_dir)
    found = store.get(namespace or DEFAULT_NAMESPACE, name)
    if found is None:
        raise NotFound(f'{PLURAL}.{GROUP} "{name}" not found')
    meta, status = found["metadata"], found.get("status") or {}
    lines = [
        f"Name:         {meta['name']}",
        f"Namespace:    {meta['namespace']}",
        f"UID:          {meta['uid']}",
        f"Kind:         {KIND}",
        f"Created:      {meta['creationTimestamp']}",
    ]
    if "deletionTimestamp" in meta:
        lines.append(f"Deleting:     since {meta['deletionTimestamp']}")
    spec = spec_of(TranscriptionJob.model_validate(found))  # in the model's order, not the database's
    lines += ["Spec:", *("  " + line for line in yaml.safe_dump(spec, sort_keys=False).splitlines())]
    plain = {k: v for k, v in status.items() if k != "conditions"}
    lines += ["Status:", *("  " + line for line in yaml.safe_dump(plain, sort_keys=False).splitlines() if plain)]
    conditions = status.get("conditions") or []
    if conditions:
        lines.append("Conditions:")
        lines.append("  Type          Status   Reason                Message")
        for c in conditions:
            lines.append(f"  {c['type']:<13} {c['status']:<8} {c['reason']:<21} {c.get('message', '')}")
    events = store.events(meta["uid"])
    lines.append("Events:" if events else "Events:       <none>")
    for event in events:
        lines.append(f"  {event['type']:<8} {event['reason']:<14} {event['at']}  {event['message']}")
    for line in lines:
        console.print(escape(line))


def delete(
    resource: Annotated[str, typer.Argument(help="tj (transcriptionjobs)", show_default=False)],
    names: Annotated[list[str], typer.Argument(help="The objects' names.", show_default=False)],
    namespace: NamespaceOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Delete TranscriptionJobs: a running worker is stopped and its Registry record becomes Cancelled."""
    check_resource(resource)
    store = open_store(data_dir)
    missing = []
    for name in names:
        found = store.request_deletion(namespace or DEFAULT_NAMESPACE, name)
        if found is None:
            missing.append(name)
            continue
        phase = (found.get("status") or {}).get("phase")
        if phase is None or phase in TERMINAL_PHASES:  # no worker to stop: gone now
            store.remove(found["metadata"]["uid"])
        else:  # the runner stops the worker, marks the Registry's record Cancelled, then removes it
            _wait_gone(store, found["metadata"]["namespace"], name)
        console.print(f'{SINGULAR}.{GROUP} "{escape(name)}" deleted')
    if missing:
        raise NotFound("; ".join(f'{PLURAL}.{GROUP} "{name}" not found' for name in missing))


DELETE_TIMEOUT_SECONDS = 60.0


def _wait_gone(store: JobStore, namespace: str, name: str) -> None:
    deadline = time.monotonic() + DELETE_TIMEOUT_SECONDS
    while store.get(namespace, name) is not None:
        if time.monotonic() > deadline:
            raise DhgError(f'{PLURAL}.{GROUP} "{name}" is still being deleted: is `dhg up` running?')
        time.sleep(0.2)
