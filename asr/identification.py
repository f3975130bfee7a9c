"""Which language is spoken: Whisper's language token probabilities over the speech of the first `seconds` of the
audio, one 30 s window at a time, averaged with each window weighted by the speech it holds. Silence is cut out
first (Silero VAD), so a long quiet intro does not decide the answer."""

from __future__ import annotations

from collections.abc import Callable

from asr.engines.base import SAMPLE_RATE, Audio
from asr.vad import speech_only

WINDOW_SECONDS = 30  # Whisper hears one 30 s window at a time
MIN_WINDOW_SECONDS = 1.0  # a shorter tail adds no evidence worth weighing (unless it is all there is)
Ranking = list[tuple[str, float]]


def windows(audio: Audio) -> list[Audio]:
    """The speech of `audio` in 30 s windows (all of it when VAD finds none: the model still gets to answer)."""
    speech = speech_only(audio)
    heard = audio if speech is None else speech.audio
    size = WINDOW_SECONDS * SAMPLE_RATE
    pieces = [heard[start : start + size] for start in range(0, len(heard), size)]
    kept = [piece for piece in pieces if len(piece) >= MIN_WINDOW_SECONDS * SAMPLE_RATE]
    return kept or pieces[:1]


def combine(rankings: list[Ranking], weights: list[float]) -> Ranking:
    """The weighted mean of several windows' distributions, most likely first (ties by code, so stable)."""
    total = sum(weights) or 1.0
    mean: dict[str, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for code, probability in ranking:
            mean[code] = mean.get(code, 0.0) + probability * weight / total
    return sorted(mean.items(), key=lambda item: (-item[1], item[0]))


def identify(audio: Audio, detect: Callable[[Audio], Ranking]) -> Ranking:
    """The spoken languages of `audio` by probability, from `detect` (an engine's one-window detection)."""
    pieces = windows(audio)
    return combine([detect(piece) for piece in pieces], [float(len(piece)) for piece in pieces])
