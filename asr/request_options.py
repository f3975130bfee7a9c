"""The rest of OpenAI's transcription request, read from the form into our options: `chunking_strategy` (`auto`, or
`server_vad` with its thresholds, onto the Silero VAD's settings), `include[]` (`logprobs`), `hotwords`/`keywords[]`
(faster-whisper's hotwords), and the subtitle options of srt/vtt (openai-whisper's writer options: line width,
lines per cue, words per line), which are built on word timestamps. Each refusal names the field."""

from __future__ import annotations

import json
from dataclasses import dataclass

from asr.engines.base import VadSettings
from asr.errors import InvalidRequest

INCLUDES = ("logprobs",)
MAX_HOTWORDS_CHARACTERS = 1000
VAD_TYPES = ("server_vad",)


def vad_settings(
    strategy: str | None,
    kind: str | None = None,
    threshold: object = None,
    prefix_padding_ms: object = None,
    silence_duration_ms: object = None,
) -> VadSettings:
    """OpenAI's `chunking_strategy`: "auto" (our VAD as it is), a JSON object, or its fields sent one by one as
    `chunking_strategy[type]` etc. (how the official client sends an object in a multipart form)."""
    if strategy not in (None, "", "auto"):
        try:
            parsed = json.loads(strategy)
        except ValueError as error:
            raise InvalidRequest("chunking_strategy must be 'auto' or a server_vad object") from error
        if not isinstance(parsed, dict):
            raise InvalidRequest("chunking_strategy must be 'auto' or a server_vad object")
        kind = parsed.get("type", kind)
        threshold = parsed.get("threshold", threshold)
        prefix_padding_ms = parsed.get("prefix_padding_ms", prefix_padding_ms)
        silence_duration_ms = parsed.get("silence_duration_ms", silence_duration_ms)
    elif kind is None and (threshold, prefix_padding_ms, silence_duration_ms) == (None, None, None):
        return VadSettings()
    if kind not in VAD_TYPES:
        raise InvalidRequest(f"chunking_strategy type must be server_vad, not {kind!r}")
    return VadSettings(
        threshold=_number("chunking_strategy threshold", threshold, 0.0, 1.0),
        speech_pad_ms=_whole("chunking_strategy prefix_padding_ms", prefix_padding_ms, 0, 10_000),
        min_silence_ms=_whole("chunking_strategy silence_duration_ms", silence_duration_ms, 0, 60_000),
    )


def _number(name: str, value: object, low: float, high: float) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidRequest(f"{name} must be a number from {low} to {high}")
    try:
        number = float(value)
    except ValueError as error:
        raise InvalidRequest(f"{name} must be a number from {low} to {high}") from error
    if not low <= number <= high:  # also refuses NaN
        raise InvalidRequest(f"{name} must be a number from {low} to {high}")
    return number


def _whole(name: str, value: object, low: int, high: int) -> int | None:
    number = _number(name, value, low, high)
    if number is None:
        return None
    if number != int(number):
        raise InvalidRequest(f"{name} must be a whole number of milliseconds")
    return int(number)


def hotwords(text: str | None, keywords: list[str]) -> str | None:
    """`hotwords` and `keywords[]` as one string for the decoder, or None."""
    words = " ".join(part.strip() for part in [text or "", *keywords] if part and part.strip())
    if len(words) > MAX_HOTWORDS_CHARACTERS:
        raise InvalidRequest(f"hotwords and keywords[] are {len(words)} characters; at most {MAX_HOTWORDS_CHARACTERS}")
    return words or None


def includes(values: list[str], response_format: str) -> frozenset[str]:
    unknown = sorted(set(values) - set(INCLUDES))
    if unknown:
        raise InvalidRequest(f"include[] takes {', '.join(INCLUDES)}, not {', '.join(unknown)}")
    if values and response_format != "json":
        raise InvalidRequest("include[]=logprobs comes with response_format json")
    return frozenset(values)


@dataclass(frozen=True)
class Subtitles:
    """How srt/vtt cues are laid out from words; all None: one cue per segment, as Whisper cut them."""

    max_line_width: int | None = None
    max_line_count: int | None = None
    max_words_per_line: int | None = None

    @property
    def asked(self) -> bool:
        return any(value is not None for value in (self.max_line_width, self.max_line_count, self.max_words_per_line))

    def check(self, response_format: str) -> Subtitles:
        if self.asked and response_format not in ("srt", "vtt"):
            raise InvalidRequest("max_line_width, max_line_count and max_words_per_line shape srt and vtt only")
        if self.max_line_count is not None and self.max_line_width is None and self.max_words_per_line is None:
            raise InvalidRequest("max_line_count needs max_line_width or max_words_per_line (what makes a line)")
        return self
