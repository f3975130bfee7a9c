"""What a transcription or translation request asks, checked and made into the job's Spec (asr/jobs.py): the
routes read the form into an `Asked` (and its `Speakers` and `Extras`), and `build_spec` does the rest."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from asr import known_speakers, request_options
from asr.diarization import DiarizationOptions
from asr.engines.base import TEMPERATURE_FALLBACK, Options, Task, VadSettings
from asr.errors import InvalidRequest
from asr.jobs import Spec
from asr.protocol import ASSET_HEADER, JOB_HEADER
from asr.responses import Granularity, ResponseFormat
from asr.settings import Settings
from dhg_core import speakers as speaker_bounds
from dhg_core.languages import language_code


def temperatures(start: float) -> tuple[float, ...]:
    """OpenAI's semantics: start at `temperature`, raise it on failure up to 1.0."""
    return tuple(t for t in TEMPERATURE_FALLBACK if t >= start) or (start,)


def uuid_header(value: str | None, name: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError as error:
        raise InvalidRequest(f"{name} must be a UUID") from error


@dataclass(frozen=True)
class Asked:
    """The decoding a request asks for and how it wants the answer."""

    task: Task
    model: str
    language: str | None = None
    prompt: str | None = None
    temperature: float = 0.0
    response_format: ResponseFormat = "json"
    granularities: list[Granularity] = field(default_factory=list)
    job_id: str | None = None  # the X-Job-ID header (a UUID), else a new one
    asset_id: str | None = None  # the X-Asset-ID header


def diarization_options(
    task: Task, response_format: ResponseFormat, speakers: Speakers | None
) -> DiarizationOptions | None:
    """Speakers are found when diarized_json, known speakers or a speaker count is asked for."""
    wanted = response_format == "diarized_json" or (speakers is not None and speakers.asked)
    if not wanted:
        return None
    if task != "transcribe":
        raise InvalidRequest("speakers (diarized_json, known speakers) are found for transcriptions only")
    speakers = speakers or Speakers()
    if (error := speaker_bounds.bounds_error(speakers.min_speakers, speakers.max_speakers)) is not None:
        raise InvalidRequest(error)
    return DiarizationOptions(
        min_speakers=speakers.min_speakers or speaker_bounds.MIN_SPEAKERS,
        max_speakers=speakers.max_speakers or speaker_bounds.MAX_SPEAKERS,
        known_speakers=known_speakers.parse(speakers.names, speakers.references),
    )


@dataclass(frozen=True)
class Extras:
    """The rest of what a transcription request may ask (asr/request_options.py)."""

    vad: VadSettings = field(default_factory=VadSettings)
    hotwords: str | None = None
    include: list[str] = field(default_factory=list)
    subtitles: request_options.Subtitles = field(default_factory=request_options.Subtitles)


@dataclass(frozen=True)
class Speakers:
    """What the request says about its speakers (OpenAI's known speakers, our speaker count bounds)."""

    names: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    min_speakers: int | None = None
    max_speakers: int | None = None
    diarize: bool = False

    @property
    def asked(self) -> bool:
        return bool(self.diarize or self.names or self.references or self.min_speakers or self.max_speakers)


def build_spec(
    settings: Settings, asked: Asked, speakers: Speakers | None = None, extras: Extras | None = None
) -> Spec:
    """The job's Spec; InvalidRequest naming what cannot be done (a language, speakers for a translation, ...)."""
    task, response_format, granularities = asked.task, asked.response_format, asked.granularities
    try:
        code = language_code(asked.language)
    except ValueError as error:
        raise InvalidRequest(str(error)) from error
    diarization = diarization_options(asked.task, asked.response_format, speakers)
    extras = extras or Extras()
    include = request_options.includes(extras.include, response_format)
    subtitles = extras.subtitles.check(response_format)
    return Spec(
        task=task,
        model=asked.model,
        options=Options(
            task=task,
            language=code,
            prompt=asked.prompt,
            temperature=temperatures(asked.temperature),
            beam_size=settings.beam_size,
            batch_size=settings.batch_size,
            # Words place speaker changes inside a segment (asr/diarization/speakers.py), carry the log-probabilities
            # and make the subtitle lines.
            word_timestamps="word" in granularities or diarization is not None or bool(include) or subtitles.asked,
            token_logprobs="logprobs" in include,
            vad_settings=extras.vad,
            hotwords=extras.hotwords,
        ),
        response_format=response_format,
        granularities=frozenset(granularities),
        job_id=uuid_header(asked.job_id, JOB_HEADER) or uuid.uuid4(),
        asset_id=uuid_header(asked.asset_id, ASSET_HEADER),
        diarization=diarization,
        include=include,
        subtitles=subtitles,
    )
