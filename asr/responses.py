"""OpenAI-compatible response bodies for a transcription result (pure)."""

from __future__ import annotations

import math
from typing import Any, Literal

from asr.request_options import Subtitles
from asr.transcribe import Result
from core import formats
from core.languages import language_name

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


def logprobs(result: Result) -> list[dict[str, Any]]:
    """OpenAI's `logprobs`: each text token Whisper decoded, the natural log of its probability, its UTF-8 bytes.
    An engine that cannot score tokens (openai-whisper) gives its words instead, with their probabilities."""
    if any(s.tokens is not None for s in result.segments):
        return [
            {"token": t.token, "logprob": t.logprob, "bytes": list(t.bytes)}
            for s in result.segments
            for t in s.tokens or ()
        ]
    return [
        {"token": w.word, "logprob": math.log(max(w.probability, 1e-12)), "bytes": list(w.word.encode())}
        for s in result.segments
        for w in s.words or ()
    ]


def diarized_json(result: Result) -> dict[str, Any]:
    """OpenAI's `TranscriptionDiarized`: segments with their speakers (`A`, `B`, ... unless known by name)."""
    return {
        "task": "transcribe",
        "duration": result.duration,
        "text": result.text,
        "segments": [
            {
                "type": "transcript.text.segment",
                "id": f"seg_{index:03d}",
                "start": s.start,
                "end": s.end,
                "text": s.text.strip(),
                "speaker": s.speaker or "A",
            }
            for index, s in enumerate(result.segments)
        ],
        "usage": {"type": "duration", "seconds": round(result.duration, 3)},
    }


def verbose_json(result: Result, task: str, granularities: set[str]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "task": task,
        "language": language_name(result.language),
        "duration": result.duration,
        "text": result.text,
    }
    if result.language_probability is not None:  # ours: how sure the model was of the language it detected
        body["language_probability"] = round(result.language_probability, 4)
    if "segment" in granularities or not granularities:
        body["segments"] = [
            {
                "id": i,
                "seek": 0,
                "start": s.start,
                "end": s.end,
                "text": s.text,
                "tokens": [],
                "temperature": s.temperature or 0.0,
                "avg_logprob": s.avg_logprob or 0.0,
                "compression_ratio": s.compression_ratio or 0.0,
                "no_speech_prob": s.no_speech_prob or 0.0,
                **({"speaker": s.speaker} if s.speaker else {}),
            }
            for i, s in enumerate(result.segments)
        ]
    if "word" in granularities:
        body["words"] = [
            {"word": w.word.strip(), "start": w.start, "end": w.end, **({"speaker": w.speaker} if w.speaker else {})}
            for s in result.segments
            for w in s.words or ()
        ]
    return body


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
        body: dict[str, Any] = {"text": result.text}
        if "logprobs" in include:
            body["logprobs"] = logprobs(result)
        return body, "application/json"
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
