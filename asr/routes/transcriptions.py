"""OpenAI-compatible `POST /v1/audio/transcriptions` and `/v1/audio/translations`, answered three ways:

- at once (the default): the whole result in the asked `response_format`;
- `stream=true`: server-sent events while the audio is decoded, in OpenAI's event shapes (asr/streaming.py);
- `Prefer: respond-async` (RFC 7240): 202 with a job to poll at `/v1/audio/jobs/{id}` (progress as a fraction)
  and its result at `/v1/audio/jobs/{id}/result`, so long audio never depends on a proxy's timeout.

Also `POST /v1/audio/language`: the most likely spoken languages with their probabilities.
The routes read the form and headers, call the TranscriptionService (asr/service.py) and shape its answer.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, File, Form, Header, Query, Request, UploadFile
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from pydantic import BaseModel, Field

from asr import request_options, responses, transcribe
from asr.deps import ApiKey, ServiceDep
from asr.errors import InvalidRequest
from asr.jobs import Job, JobView, Spec
from asr.protocol import (
    ASSET_HEADER,
    JOB_HEADER,
    JOB_PATH,
    JOB_RESULT_PATH,
    LANGUAGE_PATH,
    RESPOND_ASYNC,
    TRANSCRIPTIONS_PATH,
    TRANSLATIONS_PATH,
)
from asr.request_spec import Asked, Extras, Speakers, build_spec
from asr.responses import Granularity, ResponseFormat
from asr.service import LANGUAGE_SECONDS, MAX_LANGUAGE_SECONDS, TranscriptionService
from asr.streaming import SSE_HEADERS, SSE_MEDIA_TYPE
from asr.uploads import Upload
from dhg_core import speakers as speaker_bounds

router = APIRouter(tags=["audio"])


class LanguageProbability(BaseModel):
    language: str = Field(description="Whisper's code for it (en, de, ...).")
    probability: float


class LanguageDetection(BaseModel):
    """The likeliest spoken languages, best first."""

    language: str = Field(description="The likeliest one.")
    probability: float
    languages: list[LanguageProbability] = Field(description="The top ones with their probabilities, best first.")
    model: str = Field(description="The model that listened.")
    multilingual: bool = Field(description="false: an English-only model, which can only answer English.")


# The answer by response_format: JSON (json, verbose_json, diarized_json: asr/responses.py's models), text (text, srt,
# vtt) or, with stream=true, Server-Sent Events (OpenAI's transcript.text.delta/segment/done events).
TRANSCRIPT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "model": responses.TranscriptionBody | responses.VerboseTranscriptionBody | responses.DiarizedTranscriptionBody,
        "description": "The transcript, in the response_format asked for.",
        "content": {
            "text/plain": {"schema": {"type": "string"}},
            "text/event-stream": {"schema": {"type": "string", "description": "With stream=true."}},
        },
    }
}
SUBMIT_RESPONSES: dict[int | str, dict[str, Any]] = TRANSCRIPT_RESPONSES | {
    202: {"model": JobView, "description": "With `Prefer: respond-async`: the job to poll (its Location)."}
}


def _render(
    result: transcribe.Result, spec: Spec, response_format: ResponseFormat, headers: dict[str, str]
) -> Response:
    body, media_type = responses.render(
        result,
        response_format,
        spec.task,
        set(spec.granularities),
        include=spec.include if response_format == spec.response_format else frozenset(),
        subtitles=spec.subtitles if response_format in ("srt", "vtt") else request_options.Subtitles(),
    )
    if isinstance(body, dict):
        return JSONResponse(body, headers=headers)
    return PlainTextResponse(body, media_type=media_type, headers=headers)


def _accepted(job: Job) -> Response:
    """202 with the job to poll (RFC 7240's `Preference-Applied` says the async answer was chosen)."""
    location = JOB_PATH.format(job_id=job.id)
    headers = {"Location": location, JOB_HEADER: str(job.id), "Preference-Applied": RESPOND_ASYNC}
    return JSONResponse(job.view().model_dump(mode="json"), status_code=202, headers=headers)


async def _answer(
    request: Request, service: TranscriptionService, file: UploadFile, spec: Spec, *, stream: bool, prefer: str | None
) -> Response:
    """The answer the client asked for: a job (Prefer: respond-async), events (stream=true), or the result."""
    upload = Upload(file.file, file.size)
    if prefer and RESPOND_ASYNC in prefer.lower():
        if stream:
            raise InvalidRequest("stream=true and Prefer: respond-async exclude each other")
        return _accepted(await service.submit(spec, upload))
    headers = {JOB_HEADER: str(spec.job_id)}
    if stream:
        events = await service.stream(spec, upload, instance=request.url.path)
        return StreamingResponse(events, media_type=SSE_MEDIA_TYPE, headers={**headers, **SSE_HEADERS})
    result = await service.transcribe(spec, upload)
    return _render(result, spec, spec.response_format, headers)


FileField = Annotated[UploadFile, File(description="The audio (any format FFmpeg decodes).")]
ModelField = Annotated[str, Form(description="A model name served here; 'whisper-1' means the default.")]
FormatField = Annotated[ResponseFormat, Form()]
GranularityField = Annotated[list[Granularity], Form(alias="timestamp_granularities[]")]
TemperatureField = Annotated[float, Form(ge=0.0, le=1.0)]
StreamField = Annotated[bool, Form(description="Send segments as server-sent events while they are decoded.")]
JobHeader = Annotated[str | None, Header(alias=JOB_HEADER, description="Idempotency key for the Registry.")]
AssetHeader = Annotated[str | None, Header(alias=ASSET_HEADER, description="The Registry asset this audio is.")]
KnownNamesField = Annotated[
    list[str],
    Form(
        alias="known_speaker_names[]",
        description="Up to 4 names of people who may speak, each with a clip in known_speaker_references[].",
    ),
]
KnownReferencesField = Annotated[
    list[str],
    Form(
        alias="known_speaker_references[]",
        description="For each known speaker, 1-30 s of their voice as a data URL (data:audio/wav;base64,...).",
    ),
]
SpeakerCountField = Annotated[
    int | None,
    Form(
        ge=speaker_bounds.MIN_SPEAKERS,
        le=speaker_bounds.MAX_SPEAKERS,
        description="Bounds on the number of speakers (speakers are found when given).",
    ),
]
ChunkingField = Annotated[
    str | None,
    Form(description="'auto', or a server_vad object (JSON) with threshold, prefix_padding_ms, silence_duration_ms."),
]
IncludeField = Annotated[list[str], Form(alias="include[]", description="'logprobs' (with response_format json).")]
LineField = Annotated[int | None, Form(ge=1, le=1000)]
PreferHeader = Annotated[
    str | None, Header(alias="Prefer", description="`respond-async`: answer 202 with a job to poll (RFC 7240).")
]


@router.post(TRANSCRIPTIONS_PATH, response_model=None, responses=SUBMIT_RESPONSES)
async def create_transcription(
    request: Request,
    service: ServiceDep,
    _: ApiKey,
    file: FileField,
    model: ModelField = "whisper-1",
    language: Annotated[str | None, Form()] = None,
    prompt: Annotated[str | None, Form()] = None,
    response_format: FormatField = "json",
    temperature: TemperatureField = 0.0,
    timestamp_granularities: GranularityField = [],  # noqa: B006
    stream: StreamField = False,
    known_speaker_names: KnownNamesField = [],  # noqa: B006
    known_speaker_references: KnownReferencesField = [],  # noqa: B006
    min_speakers: SpeakerCountField = None,
    max_speakers: SpeakerCountField = None,
    diarize: Annotated[
        bool, Form(description="Find the speakers whatever the response_format (diarized_json always does).")
    ] = False,
    chunking_strategy: ChunkingField = None,
    chunking_type: Annotated[str | None, Form(alias="chunking_strategy[type]")] = None,
    chunking_threshold: Annotated[str | None, Form(alias="chunking_strategy[threshold]")] = None,
    chunking_prefix: Annotated[str | None, Form(alias="chunking_strategy[prefix_padding_ms]")] = None,
    chunking_silence: Annotated[str | None, Form(alias="chunking_strategy[silence_duration_ms]")] = None,
    include: IncludeField = [],  # noqa: B006
    hotwords: Annotated[
        str | None, Form(max_length=1000, description="Words to favour (names, jargon): faster-whisper's hotwords.")
    ] = None,
    keywords: Annotated[list[str], Form(alias="keywords[]", description="Words to favour, one by one.")] = [],  # noqa: B006
    max_line_width: Annotated[LineField, Form(description="srt/vtt: characters per line (cues from words).")] = None,
    max_line_count: Annotated[LineField, Form(description="srt/vtt: lines per cue.")] = None,
    max_words_per_line: Annotated[LineField, Form(description="srt/vtt: words per line.")] = None,
    job_id: JobHeader = None,
    asset_id: AssetHeader = None,
    prefer: PreferHeader = None,
) -> Response:
    """Transcribe audio into text in its own language (OpenAI-compatible); `diarized_json`, known speakers or a
    speaker count also say who spoke when."""
    speakers = Speakers(known_speaker_names, known_speaker_references, min_speakers, max_speakers, diarize)
    extras = Extras(
        vad=request_options.vad_settings(
            chunking_strategy, chunking_type, chunking_threshold, chunking_prefix, chunking_silence
        ),
        hotwords=request_options.hotwords(hotwords, keywords),
        include=include,
        subtitles=request_options.Subtitles(max_line_width, max_line_count, max_words_per_line),
    )
    asked = Asked(
        "transcribe", model, language, prompt, temperature, response_format, timestamp_granularities, job_id, asset_id
    )
    spec = await anyio.to_thread.run_sync(  # known speakers' clips are decoded here
        lambda: build_spec(service.settings, asked, speakers, extras)
    )
    return await _answer(request, service, file, spec, stream=stream, prefer=prefer)


@router.post(TRANSLATIONS_PATH, response_model=None, responses=SUBMIT_RESPONSES)
async def create_translation(
    request: Request,
    service: ServiceDep,
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
    settings = service.settings
    asked = Asked("translate", model, None, prompt, temperature, response_format, [], job_id, asset_id)
    spec = build_spec(settings, asked)
    return await _answer(request, service, file, spec, stream=stream, prefer=prefer)


@router.get(JOB_PATH)
async def get_job(service: ServiceDep, _: ApiKey, job_id: uuid.UUID) -> JobView:
    """An async job's status, with `progress` (0 to 1) while it runs."""
    return service.job(job_id).view()


@router.get(JOB_RESULT_PATH, response_model=None, responses=TRANSCRIPT_RESPONSES)
async def get_job_result(
    service: ServiceDep,
    _: ApiKey,
    job_id: uuid.UUID,
    response_format: Annotated[ResponseFormat | None, Query(description="Default: the job's own.")] = None,
) -> Response:
    """The finished job's transcript, rendered like the synchronous answer; 409 while it runs."""
    spec, result = service.job_result(job_id)
    return _render(result, spec, response_format or spec.response_format, {JOB_HEADER: str(job_id)})


@router.delete(JOB_PATH)
async def cancel_job(service: ServiceDep, _: ApiKey, job_id: uuid.UUID) -> JobView:
    """Ask a queued or running job to stop (at its next segment); a finished job is left as it is."""
    return service.cancel(job_id).view()


@router.post(LANGUAGE_PATH)
async def detect_language(
    service: ServiceDep,
    _: ApiKey,
    file: FileField,
    model: ModelField = "whisper-1",
    top: Annotated[int, Form(ge=1, le=100)] = 5,
    duration: Annotated[
        float,
        Form(
            gt=0,
            le=MAX_LANGUAGE_SECONDS,
            description="Seconds from the start to listen to (their speech, 30 s windows averaged).",
        ),
    ] = LANGUAGE_SECONDS,
) -> LanguageDetection:
    """The most likely spoken languages of the first `duration` seconds, with probabilities (an English-only model
    can only answer English, and says so with `multilingual: false`)."""
    guess = await service.detect_language(Upload(file.file, file.size), model, duration)
    languages = [LanguageProbability(language=code, probability=round(p, 6)) for code, p in guess.ranked[:top]]
    return LanguageDetection(
        language=languages[0].language,
        probability=languages[0].probability,
        languages=languages,
        model=guess.model,
        multilingual=guess.multilingual,
    )
