"""Server VAD: where a turn of speech starts and stops in a session's audio, as it arrives. Silero VAD (the model
faster-whisper ships, which the rest of the stack uses) scores each 32 ms frame; a turn starts at the first frame
at or above `threshold` (its audio from `prefix_padding_ms` before it) and stops once the frames have stayed below
the threshold less 0.15 (Silero's own hysteresis) for `silence_duration_ms`."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from asr.engines.base import SAMPLE_RATE

FRAME = 512  # samples: Silero's frame at 16 kHz (32 ms)


@dataclass(frozen=True)
class ServerVad:
    threshold: float = 0.5
    prefix_padding_ms: int = 300
    silence_duration_ms: int = 500
    idle_timeout_ms: int | None = None


@lru_cache(maxsize=1)
def _model() -> Any:
    from faster_whisper.vad import get_vad_model

    return get_vad_model()


@dataclass(frozen=True)
class Change:
    """A turn started (`started`) or stopped, at `ms` of the session's audio."""

    started: bool
    ms: int


class Turns:
    """Feed it the session's audio (16 kHz floats) in any chunks; it says when turns start and stop."""

    def __init__(self, settings: ServerVad) -> None:
        self.settings = settings
        self._pending = np.zeros(0, np.float32)
        self._last = np.zeros(FRAME, np.float32)  # the frame before the pending ones (Silero's context)
        self._frames = 0  # frames scored so far
        self.speaking = False
        self._silent_frames = 0
        self._stopped_ms = 0  # where the last turn stopped: the next one's padding starts no earlier

    def feed(self, samples: np.ndarray) -> list[Change]:
        self._pending = np.concatenate([self._pending, samples.astype(np.float32, copy=False)])
        whole = len(self._pending) // FRAME * FRAME
        if not whole:
            return []
        frames, self._pending = self._pending[:whole], self._pending[whole:]
        # The frame before is scored again (and dropped) so that the first new frame has its real context.
        probabilities = np.asarray(_model()(np.concatenate([self._last, frames]))).reshape(-1)[1:]
        self._last = frames[-FRAME:]
        changes = []
        settings = self.settings
        silence_frames = max(1, round(settings.silence_duration_ms * SAMPLE_RATE / 1000 / FRAME))
        for probability in probabilities:
            index, self._frames = self._frames, self._frames + 1
            if not self.speaking:
                if probability >= settings.threshold:
                    self.speaking, self._silent_frames = True, 0
                    start = index * FRAME * 1000 // SAMPLE_RATE - settings.prefix_padding_ms
                    changes.append(Change(True, max(self._stopped_ms, start)))
                continue
            if probability >= settings.threshold - 0.15:
                self._silent_frames = 0
                continue
            self._silent_frames += 1
            if self._silent_frames >= silence_frames:
                self.speaking = False
                self._stopped_ms = (index + 1) * FRAME * 1000 // SAMPLE_RATE
                changes.append(Change(False, self._stopped_ms))
        return changes

    @property
    def heard_ms(self) -> int:
        """How much audio has been scored."""
        return self._frames * FRAME * 1000 // SAMPLE_RATE
