"""OpenAI-compatible `POST /v1/audio/transcriptions` and `/v1/audio/translations`."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, File, Form, Header, Request, UploadFile
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from asr import responses, transcribe
from asr.deps import ApiKey, SettingsDep
from asr.engines.base import TEMPERATURE_FALLBACK, Options, Task
from asr.errors import EmptyAudio, InvalidRequest, TooLarge
from asr.responses import Granularity, ResponseFormat

router = APIRouter(prefix="/v1/audio", tags=["audio"])
JOB_HEADER = "X-DHG-Job-ID"
ASSET_HEADER = "X-DHG-Asset-ID"


def temperatures(start: float) -> tuple[float, ...]:
    """OpenAI's semantics: start at `temperature`, raise it on failure up to 1.0."""
    return tuple(t for t in TEMPERATURE_FALLBACK if t >= start) or (start,)


async def _transcribe(
    request: Request,
    settings: Any,
    file: UploadFile,
    task: Task,
    model: str,
    language: str | None,
    prompt: str | None,
    temperature: float,
    response_format: ResponseFormat,
    granularities: list[Granularity],
    job_header: str | None,
    asset_header: str | None,
) -> Response:
    if file.size is not None and file.size > settings.max_upload_bytes:
        raise TooLarge(f"the file is larger than {settings.max_upload_bytes} bytes")
    if file.size == 0:
        raise EmptyAudio("the uploaded file is empty")
    try:
        job_id = uuid.UUID(job_header) if job_header else uuid.uuid4()
        asset_id = uuid.UUID(asset_header) if asset_header else None
    except ValueError as error:
        raise InvalidRequest(f"{JOB_HEADER} and {ASSET_HEADER} must be UUIDs") from error
    manager = request.app.state.models
    options = Options(
        task=task,
        language=language,
        prompt=prompt,
        temperature=temperatures(temperature),
        beam_size=settings.beam_size,
        word_timestamps="word" in granularities,
    )
    async with request.app.state.admission.slot():
        engine = await anyio.to_thread.run_sync(manager.get, model)
        if task == "translate" and not engine.multilingual:
            raise InvalidRequest(f"model '{engine.model}' is English-only and cannot translate")
        result = await anyio.to_thread.run_sync(
            lambda: transcribe.run(
                engine, file.file, options, chunk_seconds=settings.chunk_seconds, max_seconds=settings.max_audio_seconds
            )
        )
        manager.touch(engine)
    headers = {JOB_HEADER: str(job_id)}
    request.app.state.delivery.submit(result.to_transcript(job_id, asset_id))
    body, media_type = responses.render(result, response_format, task, set(granularities))
    if isinstance(body, dict):
        return JSONResponse(body, headers=headers)
    return PlainTextResponse(body, media_type=media_type, headers=headers)


FileField = Annotated[UploadFile, File(description="The audio (any format FFmpeg decodes).")]
ModelField = Annotated[str, Form(description="A model name served here; 'whisper-1' means the default.")]
FormatField = Annotated[ResponseFormat, Form()]
GranularityField = Annotated[list[Granularity], Form(alias="timestamp_granularities[]")]
TemperatureField = Annotated[float, Form(ge=0.0, le=1.0)]
JobHeader = Annotated[str | None, Header(alias=JOB_HEADER, description="Idempotency key for the Registry.")]
AssetHeader = Annotated[str | None, Header(alias=ASSET_HEADER, description="The Registry asset this audio is.")]


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
    job_id: JobHeader = None,
    asset_id: AssetHeader = None,
) -> Response:
    """Transcribe audio into text in its own language (OpenAI-compatible)."""
    return await _transcribe(
        request,
        settings,
        file,
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
    job_id: JobHeader = None,
    asset_id: AssetHeader = None,
) -> Response:
    """Translate audio into English text (OpenAI-compatible; needs a multilingual model)."""
    return await _transcribe(
        request, settings, file, "translate", model, None, prompt, temperature, response_format, [], job_id, asset_id
    )
