"""A live session's audio, kept as it arrives (16 kHz 16-bit PCM on the spool disk, never whole in memory) and
encoded to Ogg Opus when the session ends: the asset its transcript is stored with, on the session's own timeline
(its segments are timed from the session's start, so the viewer plays each one where it was said)."""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np

from asr.engines.base import SAMPLE_RATE

OPUS_BIT_RATE = 32_000  # speech: about 14 MiB an hour
FRAME_SAMPLES = SAMPLE_RATE  # encoded a second at a time


class Recording:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._file = path.open("wb")
        self.samples = 0

    def add(self, samples: np.ndarray) -> None:
        self._file.write((np.clip(samples, -1.0, 1.0) * 32767).astype("<i2").tobytes())
        self.samples += len(samples)

    def encode(self, target: Path) -> Path:
        """The audio as Ogg Opus at `target` (written beside it first, then renamed); the raw spool file is gone."""
        import av

        self._file.close()
        temporary = target.with_name(target.name + ".tmp")
        try:
            with self.path.open("rb") as raw, av.open(str(temporary), "w", format="ogg") as container:
                stream = container.add_stream("libopus", rate=SAMPLE_RATE, layout="mono")
                stream.bit_rate = OPUS_BIT_RATE
                while chunk := raw.read(FRAME_SAMPLES * 2):
                    pcm = np.frombuffer(chunk[: len(chunk) // 2 * 2], dtype="<i2").reshape(1, -1)
                    frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
                    frame.sample_rate = SAMPLE_RATE
                    for packet in stream.encode(frame):
                        container.mux(packet)
                for packet in stream.encode(None):
                    container.mux(packet)
            temporary.replace(target)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        finally:
            self.path.unlink(missing_ok=True)
        return target

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            self._file.close()
        self.path.unlink(missing_ok=True)
