"""Speech only: Silero VAD (the model faster-whisper ships, so nothing is downloaded) cuts the silence out of audio
and maps times in the speech back to times in the audio. Engine-neutral: the openai-whisper engine decodes the
speech it keeps, language identification listens to it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from asr.engines.base import SAMPLE_RATE, Audio, VadSettings


@dataclass(frozen=True)
class Speech:
    """The speech of an audio (silence removed by Silero VAD) and how to map its times back."""

    audio: Audio
    original_time: Callable[[float, bool], float]


def speech_only(audio: Audio, settings: VadSettings | None = None) -> Speech | None:
    """Silero VAD (shipped with faster-whisper); None when there is no speech at all.

    (openai-whisper's own `clip_timestamps` loops forever when a clip ends at the end of the audio, so we
    cut the silence out ourselves and restore the times, as faster-whisper does.)"""
    from faster_whisper.vad import SpeechTimestampsMap, VadOptions, get_speech_timestamps

    spans = get_speech_timestamps(audio, VadOptions(**(settings or VadSettings()).parameters()))
    if not spans:
        return None
    speech = np.concatenate([audio[span["start"] : span["end"]] for span in spans]).astype(np.float32)
    mapping = SpeechTimestampsMap(spans, SAMPLE_RATE)
    return Speech(speech, lambda time, is_end: float(mapping.get_original_time(time, is_end=is_end)))
