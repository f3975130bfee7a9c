"""Small real audio made on the fly (no binary files in git)."""

from __future__ import annotations

import io
import math
import struct
import wave


def sine_wav(seconds: float = 1.0, frequency: float = 440.0, rate: int = 16000) -> bytes:
    frames = int(seconds * rate)
    samples = b"".join(
        struct.pack("<h", int(8000 * math.sin(2 * math.pi * frequency * n / rate))) for n in range(frames)
    )
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(samples)
    return buffer.getvalue()
