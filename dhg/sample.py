"""The sample `dhg up` shows the stack with: a short WAV, and a placeholder transcript until ASR lands."""

from __future__ import annotations

import array
import math
import uuid
import wave
from pathlib import Path
from typing import Any

SAMPLE_RATE = 16_000
SAMPLE_SECONDS = 1.5
TONE_HZ = 440.0
AMPLITUDE = 0.2
FADE_SECONDS = 0.05
SAMPLE_NAME = "dhg-sample.wav"
SEARCH_QUERY = "placeholder transcript"
PLACEHOLDER_MODEL = "placeholder"
PLACEHOLDER_ENGINE = "dhg-up-demo"
PLACEHOLDER_SEGMENTS = (
    (0.0, 0.7, "This is a placeholder transcript stored by dhg up."),
    (0.7, 1.5, "The ASR service will replace it with real speech recognition of the sample."),
)


def tone_samples(seconds: float = SAMPLE_SECONDS, rate: int = SAMPLE_RATE) -> array.array[int]:
    """A sine tone as signed 16-bit samples, faded in and out so it does not click."""
    count = round(seconds * rate)
    fade = max(1, round(FADE_SECONDS * rate))
    peak = AMPLITUDE * 32767
    samples = array.array("h")
    for index in range(count):
        envelope = min(1.0, index / fade, (count - 1 - index) / fade)
        samples.append(round(peak * envelope * math.sin(2 * math.pi * TONE_HZ * index / rate)))
    return samples


def write_wav(path: Path, samples: array.array[int], rate: int = SAMPLE_RATE) -> Path:
    """Write mono 16-bit PCM; the same samples give the same bytes (so the Registry de-duplicates them)."""
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(samples.tobytes())
    return path


def sample_audio(directory: Path) -> Path:
    """The sample tone, written to `directory` on first use (generated, so no binary lives in git)."""
    path = directory / SAMPLE_NAME
    if not path.exists():
        write_wav(path, tone_samples())
    return path


def placeholder_transcript(*, asset_id: uuid.UUID, duration_seconds: float | None) -> dict[str, Any]:
    """A TranscriptIn body for the sample, clearly marked as a placeholder (model and engine say so)."""
    return {
        "job_id": str(uuid.uuid4()),
        "asset_id": str(asset_id),
        "language": "en",
        "model": PLACEHOLDER_MODEL,
        "engine": PLACEHOLDER_ENGINE,
        "device": "cpu",
        "duration_seconds": duration_seconds,
        "segments": [{"start": start, "end": end, "text": text} for start, end, text in PLACEHOLDER_SEGMENTS],
    }
