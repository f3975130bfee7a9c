"""`dhg wait` and `dhg logs`: follow TranscriptionJobs in local mode as kubectl does on a cluster (`kubectl wait
--for=...`, `kubectl logs`), with a progress bar while they run."""

from __future__ import annotations

import re
import time
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from controller.model import GROUP, PLURAL, SINGULAR
from dhg.commands.jobs import NamespaceOption, NotFound, check_resource, field_at, open_store
from dhg.commands.options import DataDirOption, data_dir_from
from dhg.errors import DhgError
from dhg.jobs.manifests import DEFAULT_NAMESPACE
from dhg.jobs.store import JobStore
from dhg.output import console
from dhg_core.vocabulary import TERMINAL_PHASES


def duration(text: str) -> float:
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
        check_resource(kind)
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
    return str(field_at(document, path.strip("{}'\""))) == expected


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
    store, wanted = open_store(data_dir), namespace or DEFAULT_NAMESPACE
    deadline = time.monotonic() + duration(timeout)
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
    store, wanted = open_store(data_dir), namespace or DEFAULT_NAMESPACE
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


def follow(store: JobStore, keys: list[tuple[str, str]], timeout: float) -> None:
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
