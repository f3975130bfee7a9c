"""OpenAI-compatible `POST /v1/audio/transcriptions` and `/v1/audio/translations`, answered three ways:

- at once (the default): the whole result in the asked `response_format`;
- `stream=true`: server-sent events while the audio is decoded, in OpenAI's event shapes
  (`transcript.text.delta` per segment, with its times; `transcript.text.done` with the full text; `[DONE]`);
- `Prefer: respond-async` (RFC 7240): 202 with a job to poll at `/v1/audio/jobs/{id}` (progress as a fraction)
  and its result at `/v1/audio/jobs/{id}/result`, so long audio never depends on a proxy's timeout.

Also `POST /v1/audio/language`: the most likely spoken languages with their probabilities.
Every finished transcription goes to the Registry (keyed by the job id) whichever way it was asked for.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import anyio
import orjson
from fastapi import APIRouter, File, Form, Header, Query, Request, UploadFile
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse

from asr import audio, responses, transcribe
from asr.admission import Ticket
from asr.deps import ApiKey, SettingsDep
from asr.engines.base import TEMPERATURE_FALLBACK, Options, Segment, Task
from asr.errors import AsrError, EmptyAudio, InvalidRequest, JobCancelled, JobNotFinished, TooLarge
from asr.jobs import FINISHED, Job, Spec
from asr.responses import Granularity, ResponseFormat
from asr.settings import Settings

log = logging.getLogger("asr.transcriptions")
router = APIRouter(prefix="/v1/audio", tags=["audio"])
JOB_HEADER = "X-DHG-Job-ID"
ASSET_HEADER = "X-DHG-Asset-ID"
RESPOND_ASYNC = "respond-async"
LANGUAGE_SECONDS = 30.0  # Whisper decides the language from one 30 s window
SSE_MEDIA_TYPE = "text/event-stream"


def temperatures(start: float) -> tuple[float, ...]:
    """OpenAI's semantics: start at `temperature`, raise it on failure up to 1.0."""
    return tuple(t for t in TEMPERATURE_FALLBACK if t >= start) or (start,)


def _uuid_header(value: str | None, name: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError as error:
        raise InvalidRequest(f"{name} must be a UUID") from error


def _check_upload(file: UploadFile, settings: Settings) -> None:
    if file.size is not None and file.size > settings.max_upload_bytes:
        raise TooLarge(f"the file is larger than {settings.max_upload_bytes} bytes")
    if file.size == 0:
        raise EmptyAudio("the uploaded file is empty")


async def _spool(file: UploadFile, settings: Settings, job_id: uuid.UUID) -> Path:
    """Copy the upload to the spool dir: it must outlive the request (async jobs, streams)."""
    settings.spool_dir.mkdir(parents=True, exist_ok=True)
    path = settings.spool_dir / f"{job_id}.audio"

    def copy() -> None:
        file.file.seek(0)
        with path.open("wb") as out:
            shutil.copyfileobj(file.file, out, 1024 * 1024)

    await anyio.to_thread.run_sync(copy)
    return path


async def execute(
    request: Request,
    spec: Spec,
    source: Any,
    *,
    on_segment: Callable[[Segment], None] | None = None,
    on_progress: Callable[[float], None] | None = None,
) -> transcribe.Result:
    """Load the model, transcribe `source` in a thread, hand the result to the Registry delivery.

    The caller holds a decoder slot (an admission ticket) around this."""
    settings: Settings = request.app.state.settings
    manager = request.app.state.models
    engine = await anyio.to_thread.run_sync(manager.get, spec.model)
    if spec.task == "translate" and not engine.multilingual:
        raise InvalidRequest(f"model '{engine.model}' is English-only and cannot translate")
    try:
        result = await anyio.to_thread.run_sync(
            lambda: transcribe.run(
                engine,
                source,
                spec.options,
                chunk_seconds=settings.chunk_seconds,
                max_seconds=settings.max_audio_seconds,
                on_segment=on_segment,
                on_progress=on_progress,
            )
        )
    finally:
        manager.touch(engine)
    request.app.state.delivery.submit(result.to_transcript(spec.job_id, spec.asset_id))
    return result


def _discard(path: Path) -> None:
    """Remove spooled audio once decoded (a metadata-only operation: no need for a thread)."""
    path.unlink(missing_ok=True)


def _render(
    result: transcribe.Result, spec: Spec, response_format: ResponseFormat, headers: dict[str, str]
) -> Response:
    body, media_type = responses.render(result, response_format, spec.task, set(spec.granularities))
    if isinstance(body, dict):
        return JSONResponse(body, headers=headers)
    return PlainTextResponse(body, media_type=media_type, headers=headers)


def _event(data: dict[str, Any] | str) -> bytes:
    payload = data if isinstance(data, str) else orjson.dumps(data).decode()
    return f"data: {payload}\n\n".encode()


async def _stream(request: Request, spec: Spec, path: Path, ticket: Ticket) -> AsyncIterator[bytes]:
    """SSE: one delta per segment as it is decoded, then the full text. Deltas concatenate to the text."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Segment | None] = asyncio.Queue()

    def on_segment(segment: Segment) -> None:  # runs in the decoder thread
        loop.call_soon_threadsafe(queue.put_nowait, segment)

    async def work() -> transcribe.Result:
        try:
            async with ticket:
                return await execute(request, spec, path, on_segment=on_segment)
        finally:
            loop.call_soon_threadsafe(queue.put_nowait, None)
            _discard(path)

    # The decoding runs to the end even if the client goes away: its result still reaches the Registry.
    task = asyncio.create_task(work())
    index = 0
    while (segment := await queue.get()) is not None:
        text = segment.text.strip()
        if not text:
            continue
        yield _event(
            {
                "type": "transcript.text.delta",
                "delta": text if index == 0 else " " + text,
                "segment_id": str(index),
                "start": round(segment.start, 3),
                "end": round(segment.end, 3),
            }
        )
        index += 1
    try:
        result = await task
    except AsrError as error:
        yield _event(error.problem(instance=request.url.path))
        return
    except Exception:
        log.exception("a streamed transcription failed")
        yield _event(AsrError("an unexpected error occurred; see the server log").problem(request.url.path))
        return
    done = {
        "type": "transcript.text.done",
        "text": result.text,
        "language": result.language,
        "duration": round(result.duration, 3),
    }
    yield _event(done)
    yield _event("[DONE]")


async def _admit(
    request: Request, file: UploadFile, settings: Settings, spec: Spec
) -> tuple[Ticket, Path, float | None]:
    """For answers that outlive the request: a place in the queue (429 now, while the client still waits for
    an answer), the audio spooled and checked (400 now rather than a failed job), and its stated duration."""
    ticket = request.app.state.admission.ticket()
    path: Path | None = None
    try:
        path = await _spool(file, settings, spec.job_id)
        seconds = await anyio.to_thread.run_sync(audio.probe, path)
    except BaseException:
        ticket.cancel()
        if path is not None:
            _discard(path)
        raise
    return ticket, path, seconds


async def _run_job(request: Request, job: Job, ticket: Ticket) -> None:
    table = request.app.state.jobs
    try:
        if job.cancel_requested:
            raise JobCancelled(f"job {job.id} was cancelled before it started")
        async with ticket:
            if job.cancel_requested:
                raise JobCancelled(f"job {job.id} was cancelled before it started")
            job.status, job.started_at = "running", datetime.now(UTC)
            table.changed()
            job.result = await execute(request, job.spec, job.path, on_progress=job.advance)
        job.status = "succeeded"
    except JobCancelled as error:
        job.status, job.error = "cancelled", error.problem()
    except AsrError as error:
        job.status, job.error = "failed", error.problem()
    except Exception:
        log.exception("an async transcription job failed", extra={"job_id": str(job.id)})
        job.status, job.error = "failed", AsrError("an unexpected error occurred; see the server log").problem()
    finally:
        ticket.cancel()
        job.finished_at = datetime.now(UTC)
        _discard(job.path)
        table.changed()


async def _submit_job(request: Request, spec: Spec, file: UploadFile, settings: Settings) -> Response:
    table = request.app.state.jobs
    if table.active(spec.job_id) is not None:
        raise InvalidRequest(f"job {spec.job_id} is already queued or running here")
    ticket, path, seconds = await _admit(request, file, settings, spec)
    job = Job(spec, path, audio_seconds=seconds)
    table.add(job)
    tasks: set[asyncio.Task[None]] = request.app.state.job_tasks
    task = asyncio.create_task(_run_job(request, job, ticket), name=f"job-{job.id}")
    tasks.add(task)
    task.add_done_callback(tasks.discard)
    location = f"/v1/audio/jobs/{job.id}"
    headers = {"Location": location, JOB_HEADER: str(job.id), "Preference-Applied": RESPOND_ASYNC}
    return JSONResponse(job.view(), status_code=202, headers=headers)


async def _transcribe(
    request: Request, settings: Settings, file: UploadFile, spec: Spec, *, stream: bool, prefer: str | None
) -> Response:
    _check_upload(file, settings)
    if prefer and RESPOND_ASYNC in prefer.lower():
        if stream:
            raise InvalidRequest("stream=true and Prefer: respond-async exclude each other")
        return await _submit_job(request, spec, file, settings)
    admission = request.app.state.admission
    headers = {JOB_HEADER: str(spec.job_id)}
    if stream:
        ticket, path, _ = await _admit(request, file, settings, spec)
        sse_headers = {**headers, "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return StreamingResponse(_stream(request, spec, path, ticket), media_type=SSE_MEDIA_TYPE, headers=sse_headers)
    async with admission.ticket():
        result = await execute(request, spec, file.file)
    return _render(result, spec, spec.response_format, headers)


def _spec(
    settings: Settings,
    task: Task,
    model: str,
    language: str | None,
    prompt: str | None,
    temperature: float,
    response_format: ResponseFormat,
    granularities: list[Granularity],
    job_id: str | None,
    asset_id: str | None,
) -> Spec:
    return Spec(
        task=task,
        model=model,
        options=Options(
            task=task,
            language=language,
            prompt=prompt,
            temperature=temperatures(temperature),
            beam_size=settings.beam_size,
            batch_size=settings.batch_size,
            word_timestamps="word" in granularities,
        ),
        response_format=response_format,
        granularities=frozenset(granularities),
        job_id=_uuid_header(job_id, JOB_HEADER) or uuid.uuid4(),
        asset_id=_uuid_header(asset_id, ASSET_HEADER),
    )


FileField = Annotated[UploadFile, File(description="The audio (any format FFmpeg decodes).")]
ModelField = Annotated[str, Form(description="A model name served here; 'whisper-1' means the default.")]
FormatField = Annotated[ResponseFormat, Form()]
GranularityField = Annotated[list[Granularity], Form(alias="timestamp_granularities[]")]
TemperatureField = Annotated[float, Form(ge=0.0, le=1.0)]
StreamField = Annotated[bool, Form(description="Send segments as server-sent events while they are decoded.")]
JobHeader = Annotated[str | None, Header(alias=JOB_HEADER, description="Idempotency key for the Registry.")]
AssetHeader = Annotated[str | None, Header(alias=ASSET_HEADER, description="The Registry asset this audio is.")]
PreferHeader = Annotated[
    str | None, Header(alias="Prefer", description="`respond-async`: answer 202 with a job to poll (RFC 7240).")
]


@router.post("/transcriptions", response_model=None)
async def create_transcription(
    request: Request,
    settings: SettingsDep,
    _: ApiKey,
    file: FileField,
    model: ModelField = "whisper-1",
    language: Annotated[str | None, Form()] = None,
    prompt: Annotated[str | None, Form()] = None,
    response_format: FormatField = "json",
    temperature: TemperatureField = 0.0,
    timestamp_granularities: GranularityField = [],  # noqa: B006
    stream: StreamField = False,
    job_id: JobHeader = None,
    asset_id: AssetHeader = None,
    prefer: PreferHeader = None,
) -> Response:
    """Transcribe audio into text in its own language (OpenAI-compatible)."""
    spec = _spec(
        settings,
        "transcribe",
        model,
        language,
        prompt,
        temperature,
        response_format,
        timestamp_granularities,
        job_id,
        asset_id,
    )
    return await _transcribe(request, settings, file, spec, stream=stream, prefer=prefer)


@router.post("/translations", response_model=None)
async def create_translation(
    request: Request,
    settings: SettingsDep,
    _: ApiKey,
    file: FileField,
    model: ModelField = "whisper-1",
    prompt: Annotated[str | None, Form()] = None,
    response_format: FormatField = "json",
    temperature: TemperatureField = 0.0,
    stream: StreamField = False,
    job_id: JobHeader = None,
    asset_id: AssetHeader = None,
    prefer: PreferHeader = None,
) -> Response:
    """Translate audio into English text (OpenAI-compatible; needs a multilingual model)."""
    spec = _spec(settings, "translate", model, None, prompt, temperature, response_format, [], job_id, asset_id)
    return await _transcribe(request, settings, file, spec, stream=stream, prefer=prefer)


@router.get("/jobs/{job_id}")
async def get_job(request: Request, _: ApiKey, job_id: uuid.UUID) -> dict[str, Any]:
    """An async job's status, with `progress` (0 to 1) while it runs."""
    view: dict[str, Any] = request.app.state.jobs.get(job_id).view()
    return view


@router.get("/jobs/{job_id}/result", response_model=None)
async def get_job_result(
    request: Request,
    settings: SettingsDep,
    _: ApiKey,
    job_id: uuid.UUID,
    response_format: Annotated[ResponseFormat | None, Query(description="Default: the job's own.")] = None,
) -> Response:
    """The finished job's transcript, rendered like the synchronous answer; 409 while it runs."""
    job: Job = request.app.state.jobs.get(job_id)
    if job.result is None:
        if job.status in FINISHED:
            detail = (job.error or {}).get("detail", "no result")
            raise JobNotFinished(f"job {job_id} ended {job.status}: {detail}")
        raise JobNotFinished(
            f"job {job_id} is {job.status} ({job.view()['progress']} done); poll /v1/audio/jobs/{job_id}",
            retry_after=settings.retry_after_seconds,
        )
    return _render(job.result, job.spec, response_format or job.spec.response_format, {JOB_HEADER: str(job_id)})


@router.delete("/jobs/{job_id}")
async def cancel_job(request: Request, _: ApiKey, job_id: uuid.UUID) -> dict[str, Any]:
    """Ask a queued or running job to stop (at its next segment); a finished job is left as it is."""
    job: Job = request.app.state.jobs.get(job_id)
    if job.status not in FINISHED:
        job.cancel_requested = True
    view: dict[str, Any] = job.view()
    return view


@router.post("/language")
async def detect_language(
    request: Request,
    settings: SettingsDep,
    _: ApiKey,
    file: FileField,
    model: ModelField = "whisper-1",
    top: Annotated[int, Form(ge=1, le=100)] = 5,
) -> dict[str, Any]:
    """The most likely spoken languages of the first 30 s, with probabilities (an English-only model can
    only answer English, and says so with `multilingual: false`)."""
    _check_upload(file, settings)
    manager = request.app.state.models
    async with request.app.state.admission.ticket():
        engine = await anyio.to_thread.run_sync(manager.get, model)
        try:
            samples = await anyio.to_thread.run_sync(lambda: audio.head(file.file, seconds=LANGUAGE_SECONDS))
            ranked = await anyio.to_thread.run_sync(engine.detect_language, samples)
        finally:
            manager.touch(engine)
    languages = [{"language": code, "probability": round(p, 6)} for code, p in ranked[:top]]
    return {
        "language": languages[0]["language"],
        "probability": languages[0]["probability"],
        "languages": languages,
        "model": engine.model,
        "multilingual": engine.multilingual,
    }
