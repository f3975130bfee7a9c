"""What a diarization backend is (`Diarizer`, its `DiarizationSession`) and what it is asked (`DiarizationOptions`):
backend-neutral, so the routes, the jobs and the worker depend on this and not on one backend's module."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from asr.diarization.speakers import Turn
from dhg_core import speakers as speaker_bounds

Audio = NDArray[np.float32]


@dataclass(frozen=True)
class DiarizationOptions:
    min_speakers: int = speaker_bounds.MIN_SPEAKERS
    max_speakers: int = speaker_bounds.MAX_SPEAKERS
    known_speakers: Mapping[str, Audio] = field(default_factory=dict)  # name → a short clip, 16 kHz mono


class DiarizationSession(Protocol):
    def add(self, offset: float, audio: Audio) -> None: ...

    def finish(self) -> list[Turn]: ...


class Diarizer(Protocol):
    name: str

    def session(self, options: DiarizationOptions | None = None) -> DiarizationSession: ...
