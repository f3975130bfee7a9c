"""Speaker diarization: who spoke when, offline. A backend is a `Diarizer`: `session(options)` takes the audio chunk by
chunk (`add`) and gives the speakers' turns (`finish`); `speakers.label_segments` puts them on Whisper's segments and
words. The one backend here, `ge2e` (asr/diarization/ge2e.py), needs no download: Silero VAD from faster-whisper and
the GE2E encoder inside the resemblyzer wheel. A pyannote backend fits the same interface where its weights can be
had."""

from __future__ import annotations

from asr.diarization.encoder import EncoderMissing
from asr.diarization.ge2e import Ge2eDiarizer
from asr.diarization.protocol import DiarizationOptions, DiarizationSession, Diarizer
from asr.diarization.speakers import Turn, label_segments, talk_time

BACKENDS = ("ge2e",)

__all__ = [
    "BACKENDS",
    "DiarizationOptions",
    "DiarizationSession",
    "Diarizer",
    "EncoderMissing",
    "Turn",
    "label_segments",
    "load",
    "talk_time",
]


def load(backend: str = "ge2e") -> Diarizer:
    """The backend by name; EncoderMissing when what it needs is not installed."""
    if backend == "ge2e":
        return Ge2eDiarizer()
    raise ValueError(f"unknown diarization backend {backend!r}; known: {', '.join(BACKENDS)}")
