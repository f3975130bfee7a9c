"""A session's input audio to what Whisper hears (16 kHz mono float32), chunk by chunk as it is appended.

`audio/pcm` is 16-bit little-endian mono PCM at 24 kHz (OpenAI's only rate; 16 kHz is accepted here as an
extension), `audio/pcmu` and `audio/pcma` are G.711 μ-law and A-law at 8 kHz (telephony). Resampling is FFmpeg's
(PyAV, already the service's decoder), stateful across chunks, so chunk boundaries leave no clicks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from asr.engines.base import SAMPLE_RATE

FormatType = Literal["audio/pcm", "audio/pcmu", "audio/pcma"]
PCM_RATES = (24000, 16000)


@dataclass(frozen=True)
class AudioFormat:
    type: FormatType = "audio/pcm"
    rate: int = 24000

    @property
    def bytes_per_second(self) -> int:
        return self.rate * (2 if self.type == "audio/pcm" else 1)


def _mu_law_table() -> np.ndarray:
    codes = ~np.arange(256, dtype=np.int32) & 0xFF
    sign, exponent, mantissa = codes & 0x80, (codes >> 4) & 0x07, codes & 0x0F
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return (np.where(sign, -magnitude, magnitude) / 32768.0).astype(np.float32)


def _a_law_table() -> np.ndarray:
    codes = np.arange(256, dtype=np.int32) ^ 0x55
    sign, exponent, mantissa = codes & 0x80, (codes >> 4) & 0x07, codes & 0x0F
    magnitude = np.where(exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << np.maximum(exponent - 1, 0))
    return (np.where(sign, magnitude, -magnitude) / 32768.0).astype(np.float32)


G711 = {"audio/pcmu": _mu_law_table(), "audio/pcma": _a_law_table()}


class Decoder:
    """Bytes of one format in, 16 kHz float32 out; holds an odd trailing byte of PCM for the next chunk."""

    def __init__(self, audio_format: AudioFormat) -> None:
        import av

        self.format = audio_format
        self._carry = b""
        rate = audio_format.rate if audio_format.type == "audio/pcm" else 8000
        self._rate = rate
        self._resampler = (
            None if rate == SAMPLE_RATE else av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        )

    def decode(self, data: bytes) -> np.ndarray:
        if self.format.type == "audio/pcm":
            data, self._carry = self._carry + data, b""
            if len(data) % 2:
                data, self._carry = data[:-1], data[-1:]
            samples = np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
        else:
            samples = G711[self.format.type][np.frombuffer(data, dtype=np.uint8)]
        return self._resample(samples)

    def _resample(self, samples: np.ndarray) -> np.ndarray:
        if self._resampler is None or not len(samples):
            return samples.astype(np.float32, copy=False)
        import av

        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="flt", layout="mono")
        frame.sample_rate = self._rate
        pieces = [out.to_ndarray().reshape(-1) for out in self._resampler.resample(frame)]
        return np.concatenate(pieces).astype(np.float32) if pieces else np.zeros(0, np.float32)


def encode_pcm16(samples: np.ndarray) -> bytes:
    """Float samples as 16-bit little-endian PCM (what a client sends; the tests and `dhg listen` use it)."""
    return bytes((np.clip(samples, -1.0, 1.0) * 32767).astype("<i2").tobytes())


def encode_pcm24(samples: np.ndarray) -> bytes:
    """16 kHz float samples as `audio/pcm` at OpenAI's 24 kHz (what a client sends; the tests and the bench use it)."""
    import av

    resampler = av.AudioResampler(format="flt", layout="mono", rate=24000)
    frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1).astype(np.float32), format="flt", layout="mono")
    frame.sample_rate = SAMPLE_RATE
    pieces = [out.to_ndarray().reshape(-1) for out in [*resampler.resample(frame), *resampler.resample(None)]]
    return encode_pcm16(np.concatenate(pieces) if pieces else np.zeros(0, np.float32))
