"""`python -m asr.worker`: what the controller's pods run. One job: fetch the source, transcribe, deliver
to the Registry, then write a one-line JSON summary to stdout and to the termination-message file.

The exit codes and the summary are the controller's contract (`dhg_core.worker`): 0 done; 2 bad input (never
retried); 75 transient (the Registry or the source was unreachable, or the device is missing: retry later).
Once the Registry has stored the result, nothing after it can make the job fail: the transcript's id comes
from the push's own answer."""

from __future__ import annotations

import logging
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any

import typer

from asr import diarization, sources, transcribe
from asr.diarization import DiarizationOptions
from asr.engines.base import Options, Task
from asr.errors import AsrError, DeviceUnavailable
from asr.models import ModelManager
from asr.outbox import Deliverer, Outbox
from asr.settings import Settings, get_settings
from dhg_contract.client import RegistryClient
from dhg_core import speakers as speaker_bounds
from dhg_core.egress import AddressPolicy
from dhg_core.languages import language_code
from dhg_core.logs import configure_logging
from dhg_core.worker import TERMINATION_MESSAGE_LIMIT, ExitCode, FailureReason, WorkerSummary

log = logging.getLogger("asr.worker")


class JobFailed(Exception):
    def __init__(self, message: str, code: ExitCode) -> None:
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
    diarization: DiarizationOptions | None = None


def _registry(settings: Settings) -> RegistryClient:
    if not settings.registry_url:
        raise JobFailed("DHG_ASR_REGISTRY_URL is not set: there is nowhere to deliver the result", ExitCode.BAD_INPUT)
    token = settings.registry_token.get_secret_value() if settings.registry_token else None
    return RegistryClient(settings.registry_url, token)


def fetch(job: Job, settings: Settings, scratch: Path) -> Path:
    """The job's audio as a local file."""
    try:
        if job.path:
            return sources.from_path(job.path, settings.worker_allowed_roots)
        if job.url:
            policy = AddressPolicy.of(
                allow_private=settings.worker_allow_private, allowed_networks=settings.worker_allowed_networks
            )
            return sources.from_url(job.url, scratch / "source", max_bytes=settings.max_upload_bytes, policy=policy)
        assert job.asset_id
        with _registry(settings) as client:
            return sources.from_asset(job.asset_id, scratch / "source", client, max_bytes=settings.max_upload_bytes)
    except sources.SourceError as error:
        raise JobFailed(str(error), ExitCode.TRANSIENT if error.transient else ExitCode.BAD_INPUT) from error


def deliver(result: transcribe.Result, job: Job, settings: Settings) -> uuid.UUID:
    """Put the result in the outbox, push it (retrying while the Registry is away) and return the stored
    transcript's id. A result the Registry refuses for good is bad input; one it did not take in time waits in
    the outbox, and the next attempt (same job id) finds the Registry keeping it once."""
    asset_id = uuid.UUID(job.asset_id) if job.asset_id else None
    outbox = Outbox(settings.outbox_dir)
    try:
        outbox.put(result.to_transcript(job.job_id, asset_id))
    except OSError as error:  # its disk full or failing: nothing kept, so another attempt must do it again
        raise JobFailed(f"the result could not be written to the outbox: {error}", ExitCode.TRANSIENT) from error
    deliverer = Deliverer(
        outbox,
        lambda: _registry(settings),
        base_delay=settings.outbox_retry_base_seconds,
        max_delay=settings.outbox_retry_max_seconds,
    )
    delivered = deliverer.deliver_until_empty(settings.delivery_timeout_seconds)
    if job.job_id in deliverer.refused:
        raise JobFailed(f"the Registry refused the result: {deliverer.refused[job.job_id]}", ExitCode.BAD_INPUT)
    if not delivered or job.job_id not in deliverer.stored:
        raise JobFailed("the Registry did not accept the result in time; it waits in the outbox", ExitCode.TRANSIENT)
    return deliverer.stored[job.job_id]


def execute(job: Job, settings: Settings) -> WorkerSummary:
    """Run one job; returns the summary. Raises JobFailed with the exit code on failure."""
    with tempfile.TemporaryDirectory(prefix="dhg-worker-") as scratch:
        audio_file = fetch(job, settings, Path(scratch))
        try:
            models = ModelManager(settings)
            models.check(job.model, job.options)
            engine = models.get(job.model)
            result = transcribe.run(
                engine,
                audio_file,
                job.options,
                chunk_seconds=settings.chunk_seconds,
                max_seconds=settings.max_audio_seconds,
                diarization=_session(job, settings),
            )
        except DeviceUnavailable as error:
            raise JobFailed(error.detail, ExitCode.TRANSIENT) from error
        except AsrError as error:
            raise JobFailed(error.detail, ExitCode.BAD_INPUT) from error
    transcript_id = deliver(result, job, settings)
    return WorkerSummary(
        status="Succeeded",
        job_id=str(job.job_id),
        transcript_id=str(transcript_id),
        audio_seconds=round(result.duration, 3),
        processing_seconds=round(result.processing_seconds, 3),
        real_time_factor=round(result.real_time_factor, 2),
        device=result.device,
        engine=result.engine,
        model=result.model,
        language=result.language,
        segments=len(result.segments),
    )


def report(summary: WorkerSummary, termination_log: Path) -> None:
    """The one-line summary on stdout and in the pod's termination message (Kubernetes keeps 4 KiB)."""
    line = summary.line()
    print(line, flush=True)
    try:
        termination_log.write_text(line[:TERMINATION_MESSAGE_LIMIT])
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
    speakers: Annotated[
        bool, typer.Option("--speakers/--no-speakers", envvar="DHG_SPEAKERS", help="Find who spoke when.")
    ] = False,
    min_speakers: Annotated[
        int | None,
        typer.Option(envvar="DHG_MIN_SPEAKERS", min=speaker_bounds.MIN_SPEAKERS, max=speaker_bounds.MAX_SPEAKERS),
    ] = None,
    max_speakers: Annotated[
        int | None,
        typer.Option(envvar="DHG_MAX_SPEAKERS", min=speaker_bounds.MIN_SPEAKERS, max=speaker_bounds.MAX_SPEAKERS),
    ] = None,
    device: Annotated[str | None, typer.Option(envvar="DHG_DEVICE", help="auto, gpu or cpu.")] = None,
    engine: Annotated[str | None, typer.Option(envvar="DHG_ENGINE")] = None,
) -> None:
    """Transcribe one job and deliver it to the Registry (settings: DHG_ASR_*, the termination log included)."""
    settings = get_settings()
    overrides: dict[str, Any] = {}
    if device:
        overrides["device"] = device
    if engine:
        overrides["engine"] = engine
    try:
        settings = Settings(**{**settings.model_dump(), **overrides})
    except ValueError as error:
        _finish(WorkerSummary.failed("BadInput", str(error).splitlines()[0]), ExitCode.BAD_INPUT, settings)
    configure_logging("asr-worker", settings.log_level, {"job": settings.job} if settings.job else None)
    started = time.perf_counter()
    try:
        diarization = _diarization(speakers, min_speakers, max_speakers)
        job = _parse(job_id, url, asset_id, path, model, language, task, word_timestamps or speakers, vad, settings)
        job = replace(job, diarization=diarization)
        summary = execute(job, settings)
    except JobFailed as failure:
        reason: FailureReason = "BadInput" if failure.code == ExitCode.BAD_INPUT else "Transient"
        _finish(WorkerSummary.failed(reason, str(failure), job_id), failure.code, settings)
    summary = summary.model_copy(update={"wall_seconds": round(time.perf_counter() - started, 3)})
    _finish(summary, ExitCode.OK, settings)


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
        raise JobFailed(f"job id {job_id!r} is not a UUID", ExitCode.BAD_INPUT) from error
    if sum(x is not None for x in (url, asset_id, path)) != 1:
        raise JobFailed("give exactly one source: --url, --asset-id or --path", ExitCode.BAD_INPUT)
    if task not in ("transcribe", "translate"):
        raise JobFailed(f"task must be transcribe or translate, not {task!r}", ExitCode.BAD_INPUT)
    typed_task: Task = "translate" if task == "translate" else "transcribe"
    try:
        code = language_code(language)
    except ValueError as error:
        raise JobFailed(str(error), ExitCode.BAD_INPUT) from error
    options = Options(
        task=typed_task,
        language=code,
        word_timestamps=word_timestamps,
        vad=vad,
        beam_size=settings.beam_size,
        batch_size=settings.batch_size,
    )
    return Job(parsed_id, url, asset_id, path, model, options)


def _session(job: Job, settings: Settings) -> diarization.DiarizationSession | None:
    """The job's diarization, or BadInput when this worker cannot find speakers (the backend off or missing)."""
    if job.diarization is None:
        return None
    try:
        return diarization.load(settings.diarization_backend).session(job.diarization)
    except (diarization.EncoderMissing, ValueError) as error:
        raise JobFailed(f"speakers cannot be found here: {error}", ExitCode.BAD_INPUT) from error


def _diarization(speakers: bool, min_speakers: int | None, max_speakers: int | None) -> DiarizationOptions | None:
    if not speakers:
        return None
    error = speaker_bounds.bounds_error(min_speakers, max_speakers, ("--min-speakers", "--max-speakers"))
    if error is not None:
        raise JobFailed(error, ExitCode.BAD_INPUT)
    return DiarizationOptions(
        min_speakers=min_speakers or speaker_bounds.MIN_SPEAKERS,
        max_speakers=max_speakers or speaker_bounds.MAX_SPEAKERS,
    )


def _finish(summary: WorkerSummary, code: ExitCode, settings: Settings) -> None:
    report(summary, settings.termination_log)
    if code != ExitCode.OK:
        print(f"error: {summary.message}", file=sys.stderr)
    raise SystemExit(int(code))


if __name__ == "__main__":
    typer.run(main)
