"""`python -m asr.worker`: what the controller's pods run. One job: fetch the source, transcribe, deliver
to the Registry, then write a one-line JSON summary to stdout and to the termination-message file.

Exit codes (the controller's retry contract): 0 done; 2 bad input (never retried); 75 transient
(EX_TEMPFAIL: the Registry or the source was unreachable, or the device is missing: retry later)."""

from __future__ import annotations

import json
import logging
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from asr import sources, transcribe
from asr.engines.base import Options, Task
from asr.errors import AsrError, DeviceUnavailable
from asr.models import ModelManager
from asr.outbox import Deliverer, Outbox
from asr.settings import Settings, get_settings
from core.logs import configure_logging
from registry.client import RegistryClient

EXIT_OK, EXIT_BAD_INPUT, EXIT_TRANSIENT = 0, 2, 75
log = logging.getLogger("asr.worker")


class JobFailed(Exception):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Job:
    job_id: uuid.UUID
    url: str | None
    asset_id: str | None
    path: str | None
    model: str | None
    options: Options


def _registry(settings: Settings) -> RegistryClient:
    if not settings.registry_url:
        raise JobFailed("DHG_ASR_REGISTRY_URL is not set: there is nowhere to deliver the result", EXIT_BAD_INPUT)
    token = settings.registry_token.get_secret_value() if settings.registry_token else None
    return RegistryClient(settings.registry_url, token)


def fetch(job: Job, settings: Settings, scratch: Path) -> Path:
    """The job's audio as a local file."""
    try:
        if job.path:
            return sources.from_path(job.path, settings.worker_allowed_roots)
        if job.url:
            return sources.from_url(job.url, scratch / "source", max_bytes=settings.max_upload_bytes)
        assert job.asset_id
        with _registry(settings) as client:
            return sources.from_asset(job.asset_id, scratch / "source", client, max_bytes=settings.max_upload_bytes)
    except sources.SourceError as error:
        raise JobFailed(str(error), EXIT_TRANSIENT if error.transient else EXIT_BAD_INPUT) from error


def execute(job: Job, settings: Settings) -> dict[str, Any]:
    """Run one job; returns the summary. Raises JobFailed with the exit code on failure."""
    with tempfile.TemporaryDirectory(prefix="dhg-worker-") as scratch:
        audio_file = fetch(job, settings, Path(scratch))
        try:
            engine = ModelManager(settings).get(job.model)
            result = transcribe.run(
                engine,
                audio_file,
                job.options,
                chunk_seconds=settings.chunk_seconds,
                max_seconds=settings.max_audio_seconds,
            )
        except DeviceUnavailable as error:
            raise JobFailed(error.detail, EXIT_TRANSIENT) from error
        except AsrError as error:
            raise JobFailed(error.detail, EXIT_BAD_INPUT) from error
    asset_id = uuid.UUID(job.asset_id) if job.asset_id else None
    outbox = Outbox(settings.outbox_dir)
    outbox.put(result.to_transcript(job.job_id, asset_id))
    deliverer = Deliverer(
        outbox,
        lambda: _registry(settings),
        base_delay=settings.outbox_retry_base_seconds,
        max_delay=settings.outbox_retry_max_seconds,
    )
    if not deliverer.deliver_until_empty(settings.delivery_timeout_seconds):
        raise JobFailed("the Registry did not accept the result in time; it waits in the outbox", EXIT_TRANSIENT)
    with _registry(settings) as client:
        stored = client.list_transcripts(job_id=job.job_id, limit=1).items
    return {
        "status": "Succeeded",
        "jobId": str(job.job_id),
        "transcriptId": str(stored[0].id) if stored else None,
        "audioSeconds": round(result.duration, 3),
        "processingSeconds": round(result.processing_seconds, 3),
        "realTimeFactor": round(result.real_time_factor, 2),
        "device": result.device,
        "engine": result.engine,
        "model": result.model,
        "language": result.language,
        "segments": len(result.segments),
    }


def report(summary: dict[str, Any], termination_log: Path) -> None:
    """The one-line summary on stdout and in the pod's termination message (Kubernetes keeps 4 KiB)."""
    line = json.dumps(summary, separators=(",", ":"))
    print(line, flush=True)
    try:
        termination_log.write_text(line[:4096])
    except OSError as error:
        log.warning(
            "could not write the termination message", extra={"path": str(termination_log), "error": str(error)}
        )


def main(
    job_id: Annotated[str, typer.Option(envvar="DHG_JOB_ID", help="The job's id (the Registry's idempotency key).")],
    url: Annotated[str | None, typer.Option(envvar="DHG_SOURCE_URL")] = None,
    asset_id: Annotated[str | None, typer.Option(envvar="DHG_SOURCE_ASSET_ID")] = None,
    path: Annotated[str | None, typer.Option(envvar="DHG_SOURCE_PATH")] = None,
    model: Annotated[str | None, typer.Option(envvar="DHG_MODEL")] = None,
    language: Annotated[str | None, typer.Option(envvar="DHG_LANGUAGE")] = None,
    task: Annotated[str, typer.Option(envvar="DHG_TASK")] = "transcribe",
    word_timestamps: Annotated[bool, typer.Option(envvar="DHG_WORD_TIMESTAMPS")] = False,
    vad: Annotated[bool, typer.Option(envvar="DHG_VAD")] = True,
    device: Annotated[str | None, typer.Option(envvar="DHG_DEVICE")] = None,
    engine: Annotated[str | None, typer.Option(envvar="DHG_ENGINE")] = None,
    termination_log: Annotated[Path | None, typer.Option(envvar="DHG_TERMINATION_LOG")] = None,
) -> None:
    """Transcribe one job and deliver it to the Registry."""
    settings = get_settings()
    overrides: dict[str, Any] = {}
    if device:
        overrides["device"] = device
    if engine:
        overrides["engine"] = engine
    try:
        settings = Settings(**{**settings.model_dump(), **overrides})
    except ValueError as error:
        _finish(
            {"status": "Failed", "reason": "BadInput", "message": str(error).splitlines()[0]},
            EXIT_BAD_INPUT,
            settings.termination_log,
            termination_log,
        )
    configure_logging("asr-worker", settings.log_level)
    started = time.perf_counter()
    try:
        job = _parse(job_id, url, asset_id, path, model, language, task, word_timestamps, vad, settings)
        summary = execute(job, settings)
    except JobFailed as failure:
        reason = "BadInput" if failure.code == EXIT_BAD_INPUT else "Transient"
        _finish(
            {"status": "Failed", "reason": reason, "message": str(failure), "jobId": job_id},
            failure.code,
            settings.termination_log,
            termination_log,
        )
    summary["wallSeconds"] = round(time.perf_counter() - started, 3)
    _finish(summary, EXIT_OK, settings.termination_log, termination_log)


def _parse(
    job_id: str,
    url: str | None,
    asset_id: str | None,
    path: str | None,
    model: str | None,
    language: str | None,
    task: str,
    word_timestamps: bool,
    vad: bool,
    settings: Settings,
) -> Job:
    try:
        parsed_id = uuid.UUID(job_id)
    except ValueError as error:
        raise JobFailed(f"job id {job_id!r} is not a UUID", EXIT_BAD_INPUT) from error
    if sum(x is not None for x in (url, asset_id, path)) != 1:
        raise JobFailed("give exactly one source: --url, --asset-id or --path", EXIT_BAD_INPUT)
    if task not in ("transcribe", "translate"):
        raise JobFailed(f"task must be transcribe or translate, not {task!r}", EXIT_BAD_INPUT)
    typed_task: Task = "translate" if task == "translate" else "transcribe"
    options = Options(
        task=typed_task,
        language=None if language in (None, "auto") else language,
        word_timestamps=word_timestamps,
        vad=vad,
        beam_size=settings.beam_size,
        batch_size=settings.batch_size,
    )
    return Job(parsed_id, url, asset_id, path, model, options)


def _finish(summary: dict[str, Any], code: int, default_log: Path, override: Path | None) -> None:
    report(summary, override or default_log)
    if code != EXIT_OK:
        print(f"error: {summary['message']}", file=sys.stderr)
    raise SystemExit(code)


if __name__ == "__main__":
    typer.run(main)
