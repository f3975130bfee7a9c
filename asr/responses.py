"""OpenAI-compatible response bodies for a transcription result (pure): each JSON shape is a model (OpenAI's
`Transcription`, `TranscriptionVerbose`, `TranscriptionDiarized`), which both makes the body and documents it."""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, Field

from asr.request_options import Subtitles
from asr.transcribe import Result
from dhg_core import formats
from dhg_core.languages import language_name

ResponseFormat = Literal["json", "text", "srt", "vtt", "verbose_json", "diarized_json"]
Granularity = Literal["segment", "word"]


def _plain(result: Result) -> dict[str, Any]:
    return {
        "text": result.text,
        "segments": [
            {
                "start": s.start,
                "end": s.end,
                "text": s.text,
                "speaker": s.speaker,
                "words": [{"start": w.start, "end": w.end, "word": w.word} for w in s.words or ()],
            }
            for s in result.segments
        ],
    }


class TokenLogprob(BaseModel):
    token: str
    logprob: float = Field(description="The natural log of its probability.")
    bytes: list[int] = Field(description="Its UTF-8 bytes.")


class TranscriptionBody(BaseModel):
    """`response_format: json` (OpenAI's `Transcription`)."""

    text: str
    logprobs: list[TokenLogprob] | None = Field(default=None, description="With include[]=logprobs.")


class VerboseSegment(BaseModel):
    id: int
    seek: int
    start: float
    end: float
    text: str
    tokens: list[int]
    temperature: float
    avg_logprob: float
    compression_ratio: float
    no_speech_prob: float
    speaker: str | None = Field(default=None, description="Ours: who said it, when speakers were asked for.")


class VerboseWord(BaseModel):
    word: str
    start: float
    end: float
    speaker: str | None = None


class VerboseTranscriptionBody(BaseModel):
    """`response_format: verbose_json` (OpenAI's `TranscriptionVerbose`)."""

    task: str
    language: str = Field(description="The language's English name (Whisper's), detected when not given.")
    duration: float
    text: str
    language_probability: float | None = Field(
        default=None, description="Ours: how sure the model was of the language it detected."
    )
    segments: list[VerboseSegment] | None = None
    words: list[VerboseWord] | None = None


class DiarizedSegment(BaseModel):
    type: Literal["transcript.text.segment"] = "transcript.text.segment"
    id: str
    start: float
    end: float
    text: str
    speaker: str


class DurationUsage(BaseModel):
    type: Literal["duration"] = "duration"
    seconds: float


class DiarizedTranscriptionBody(BaseModel):
    """`response_format: diarized_json` (OpenAI's `TranscriptionDiarized`)."""

    task: Literal["transcribe"] = "transcribe"
    duration: float
    text: str
    segments: list[DiarizedSegment]
    usage: DurationUsage


JSON_BODIES = (TranscriptionBody, VerboseTranscriptionBody, DiarizedTranscriptionBody)


def _dump(body: BaseModel) -> dict[str, Any]:
    return body.model_dump(mode="json", exclude_none=True)


def logprobs(result: Result) -> list[dict[str, Any]]:
    """OpenAI's `logprobs`: each text token Whisper decoded, the natural log of its probability, its UTF-8 bytes.
    An engine that cannot score tokens (openai-whisper) gives its words instead, with their probabilities."""
    return [_dump(entry) for entry in _logprobs(result)]


def _logprobs(result: Result) -> list[TokenLogprob]:
    if any(s.tokens is not None for s in result.segments):
        return [
            TokenLogprob(token=t.token, logprob=t.logprob, bytes=list(t.bytes))
            for s in result.segments
            for t in s.tokens or ()
        ]
    return [
        TokenLogprob(token=w.word, logprob=math.log(max(w.probability, 1e-12)), bytes=list(w.word.encode()))
        for s in result.segments
        for w in s.words or ()
    ]


def diarized_json(result: Result) -> dict[str, Any]:
    """OpenAI's `TranscriptionDiarized`: segments with their speakers (`A`, `B`, ... unless known by name)."""
    return _dump(
        DiarizedTranscriptionBody(
            duration=result.duration,
            text=result.text,
            segments=[
                DiarizedSegment(
                    id=f"seg_{index:03d}", start=s.start, end=s.end, text=s.text.strip(), speaker=s.speaker or "A"
                )
                for index, s in enumerate(result.segments)
            ],
            usage=DurationUsage(seconds=round(result.duration, 3)),
        )
    )


def verbose_json(result: Result, task: str, granularities: set[str]) -> dict[str, Any]:
    segments = None
    if "segment" in granularities or not granularities:
        segments = [
            VerboseSegment(
                id=i,
                seek=0,
                start=s.start,
                end=s.end,
                text=s.text,
                tokens=[],
                temperature=s.temperature or 0.0,
                avg_logprob=s.avg_logprob or 0.0,
                compression_ratio=s.compression_ratio or 0.0,
                no_speech_prob=s.no_speech_prob or 0.0,
                speaker=s.speaker or None,
            )
            for i, s in enumerate(result.segments)
        ]
    words = None
    if "word" in granularities:
        words = [
            VerboseWord(word=w.word.strip(), start=w.start, end=w.end, speaker=w.speaker or None)
            for s in result.segments
            for w in s.words or ()
        ]
    probability = result.language_probability
    return _dump(
        VerboseTranscriptionBody(
            task=task,
            language=language_name(result.language),
            duration=result.duration,
            text=result.text,
            language_probability=None if probability is None else round(probability, 4),
            segments=segments,
            words=words,
        )
    )


def render(
    result: Result,
    response_format: ResponseFormat,
    task: str,
    granularities: set[str],
    *,
    include: frozenset[str] = frozenset(),
    subtitles: Subtitles = Subtitles(),
) -> tuple[str | dict[str, Any], str]:
    """The body and its media type."""
    if response_format == "json":
        scored = _logprobs(result) if "logprobs" in include else None
        return _dump(TranscriptionBody(text=result.text, logprobs=scored)), "application/json"
    if response_format == "verbose_json":
        return verbose_json(result, task, granularities), "application/json"
    if response_format == "diarized_json":
        return diarized_json(result), "application/json"
    if response_format == "text" and not any(s.speaker for s in result.segments):
        return result.text + "\n", "text/plain; charset=utf-8"
    plain = _plain(result)
    if subtitles.asked:
        plain["segments"] = formats.subtitle_cues(
            plain["segments"],
            max_line_width=subtitles.max_line_width,
            max_line_count=subtitles.max_line_count,
            max_words_per_line=subtitles.max_words_per_line,
        )
    rendered, media_type = formats.render(plain, response_format)
    return rendered, media_type
