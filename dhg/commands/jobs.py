"""`dhg apply`, `dhg get tj`, `dhg describe tj`, `dhg delete tj`: TranscriptionJob manifests in local mode, as
kubectl handles them on a cluster (the same manifests, the same validation, the same columns)."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from typing import Annotated, Any

import psycopg
import typer
import yaml
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

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


def _store(data_dir: DataDirOption) -> JobStore:
    directory = data_dir_from(data_dir)
    state = read_state(directory)
    if state is None:
        raise DhgError(f"local mode is not running for {directory.root}: start it with `dhg up`")
    try:
        return JobStore(connection_url(state.postgres_port))
    except (OSError, psycopg.Error) as error:
        raise DhgError(f"local mode's PostgreSQL does not answer (is `dhg up` running?): {error}") from error


def _resource(name: str) -> None:
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
    store = _store(data_dir)
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
        followed = [(r.namespace, r.name) for r in results if isinstance(r, Applied)]
        _follow(store, followed, _duration(timeout))


def _field(document: dict[str, Any], json_path: str) -> Any:
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
    value = _field(document, column["jsonPath"])
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
    _resource(resource)
    if output not in (None, "wide", "yaml", "json"):
        raise DhgError(f"unable to match a printer suitable for the output format {output!r}: wide, yaml, json")
    store = _store(data_dir)
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
    _resource(resource)
    store = _store(data_dir)
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
    _resource(resource)
    store = _store(data_dir)
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


def _duration(text: str) -> float:
    """kubectl's durations: 90s, 5m, 1h, 1h30m (a bare number is seconds)."""
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|m|s|ms)?", text.strip())
    if not text.strip() or "".join(n + (u or "") for n, u in parts) != text.strip():
        raise DhgError(f"invalid duration {text!r}: e.g. 90s, 5m, 1h")
    scale = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "": 1.0}
    return sum(float(number) * scale[unit] for number, unit in parts)


def _references(resources: list[str]) -> list[str]:
    """`tj/NAME` (or `transcriptionjob/NAME`, ...) → NAME."""
    names = []
    for reference in resources:
        kind, slash, name = reference.partition("/")
        if not slash or not name:
            raise DhgError(f"{reference!r}: name the object as tj/NAME")
        _resource(kind)
        names.append(name)
    return names


def _condition_met(document: dict[str, Any] | None, wanted: str) -> bool:
    """`condition=Succeeded`, `condition=Failed=True`, `delete` or `jsonpath={.status.phase}=Succeeded`."""
    if wanted == "delete":
        return document is None
    if document is None:
        return False
    status = document.get("status") or {}
    kind, _, value = wanted.partition("=")
    if kind == "condition":
        name, _, state = value.partition("=")
        return any(
            c["type"].lower() == name.lower() and c["status"].lower() == (state or "true").lower()
            for c in status.get("conditions") or []
        )
    path, _, expected = value.partition("=")
    return str(_field(document, path.strip("{}'\""))) == expected


def wait(
    resources: Annotated[list[str], typer.Argument(help="tj/NAME ...", show_default=False)],
    wait_for: Annotated[
        str,
        typer.Option(
            "--for",
            help="condition=Succeeded[=True], delete, or jsonpath={.status.phase}=VALUE.",
            show_default=False,
        ),
    ],
    timeout: Annotated[str, typer.Option(help="How long to wait: 30s, 5m, 1h.")] = "30s",
    namespace: NamespaceOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Wait for TranscriptionJobs to meet a condition, as `kubectl wait` does."""
    names = _references(resources)
    if not (wait_for == "delete" or wait_for.startswith(("condition=", "jsonpath="))):
        raise DhgError(f"unrecognized condition: {wait_for!r} (condition=NAME[=VALUE], delete, jsonpath=...)")
    store, wanted = _store(data_dir), namespace or DEFAULT_NAMESPACE
    deadline = time.monotonic() + _duration(timeout)
    for name in names:
        while True:
            found = store.get(wanted, name)
            if found is None and wait_for != "delete":
                raise NotFound(f'{PLURAL}.{GROUP} "{name}" not found')
            if _condition_met(found, wait_for):
                console.print(f"{SINGULAR}.{GROUP}/{escape(name)} {'deleted' if found is None else 'condition met'}")
                break
            if time.monotonic() > deadline:
                raise DhgError(f"timed out waiting for the condition on {PLURAL}/{name}")
            time.sleep(0.3)


def logs(
    resource: Annotated[str, typer.Argument(help="tj/NAME", show_default=False)],
    namespace: NamespaceOption = None,
    previous: Annotated[
        bool, typer.Option("--previous", "-p", help="The attempt before the current one (a retried job's failure).")
    ] = False,
    data_dir: DataDirOption = None,
) -> None:
    """The worker's output of the job's current attempt, as `kubectl logs` shows its pod's (--previous: of the
    attempt before it)."""
    (name,) = _references([resource])
    store, wanted = _store(data_dir), namespace or DEFAULT_NAMESPACE
    found = store.get(wanted, name)
    if found is None:
        raise NotFound(f'{PLURAL}.{GROUP} "{name}" not found')
    job_name = (found.get("status") or {}).get("jobName")
    folder = data_dir_from(data_dir).jobs / wanted / name
    if previous:
        earlier = sorted(
            (_attempt_number(path.name), path.name)
            for path in (folder.iterdir() if folder.is_dir() else ())
            if path.name != job_name and (path / "output.log").exists()
        )
        if not earlier or not job_name:
            raise DhgError(f"{PLURAL}/{name} has no previous attempt")
        job_name = earlier[-1][1]
    output = folder / str(job_name) / "output.log"
    if not job_name or not output.exists():
        raise DhgError(f"{PLURAL}/{name} has no worker output yet (phase {found.get('status', {}).get('phase')})")
    console.print(output.read_text(errors="replace").rstrip(), markup=False)


def _attempt_number(job_name: str) -> int:
    """A worker Job's attempt (its name's last part: <job>-<placement>-<attempt>)."""
    tail = job_name.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else 0


FOLLOW_POLL_SECONDS = 0.05  # one indexed SELECT on a kept connection
# A job's phase as a share of its way: the progress bar's steps.
PHASE_STEPS = {None: 0, "Pending": 1, "Scheduling": 2, "Running": 3}
DONE_STEPS = 4


def _follow(store: JobStore, keys: list[tuple[str, str]], timeout: float) -> None:
    """A progress bar per job until each has ended; exit status 1 when one failed or was cancelled."""
    ended: dict[tuple[str, str], dict[str, Any]] = {}
    deadline = time.monotonic() + timeout
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        tasks = {key: progress.add_task(f"{key[1]}: applied", total=DONE_STEPS) for key in keys}
        while len(ended) < len(keys):
            for key, task in tasks.items():
                if key in ended:
                    continue
                found = store.get(*key)
                status = (found or {}).get("status") or {}
                phase = status.get("phase") if found else "Deleted"
                detail = f" on {status['device']}" if status.get("device") else ""
                progress.update(task, description=f"{escape(key[1])}: {phase or 'applied'}{detail}")
                if found is None or phase in TERMINAL_PHASES:
                    ended[key] = status | {"phase": phase}
                    progress.update(task, completed=DONE_STEPS)
                else:
                    progress.update(task, completed=PHASE_STEPS.get(phase, 0))
            if len(ended) < len(keys):
                if time.monotonic() > deadline:
                    raise DhgError(f"timed out following {len(keys) - len(ended)} job(s): `dhg get tj` shows them")
                time.sleep(FOLLOW_POLL_SECONDS)
    failed = []
    for (_, name), status in ended.items():
        if status["phase"] == "Succeeded":
            rtf = f", RTF {status['realTimeFactor']}" if status.get("realTimeFactor") is not None else ""
            console.print(f"{SINGULAR}.{GROUP}/{escape(name)} Succeeded: {escape(str(status.get('message')))}{rtf}")
        else:
            failed.append(f"{name} {status['phase']}: {status.get('message') or ''}".strip())
    if failed:
        raise DhgError("; ".join(failed))
