"""Audio files that lie: encoded here with PyAV (FFmpeg's encoders), then patched so their containers state a
duration they do not hold (header bombs), or left to decode to far more audio than their size suggests
(decompression bombs). One for every container FFmpeg reads here: ogg/opus, mp3, flac, wav, m4a."""

from __future__ import annotations

import re
import struct
import tempfile
from pathlib import Path

import av
import numpy as np

RATE = 16_000
FORMATS = {  # name: (container, codec, sample rate)
    "opus": ("ogg", "libopus", 48_000),
    "mp3": ("mp3", "libmp3lame", 16_000),
    "flac": ("flac", "flac", 16_000),
    "wav": ("wav", "pcm_s16le", 16_000),
    "m4a": ("ipod", "aac", 16_000),
}


def encode(name: str, seconds: float, *, silence: bool = False) -> bytes:
    """`seconds` of a 440 Hz tone (or silence), mono, in the format `name`."""
    container, codec, rate = FORMATS[name]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"audio.{name}"
        with av.open(str(path), "w", format=container) as out:
            stream = out.add_stream(codec, rate=rate)
            stream.layout = "mono"
            formats = [f.name for f in stream.codec_context.codec.audio_formats]
            sample_format = "fltp" if "fltp" in formats else "s16"
            total = int(seconds * rate)
            for start in range(0, total, rate):
                count = min(rate, total - start)
                t = (np.arange(count) + start) / rate
                wave = np.zeros(count) if silence else 0.2 * np.sin(2 * np.pi * 440 * t)
                samples = wave.astype(np.float32) if sample_format == "fltp" else (wave * 32767).astype(np.int16)
                frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format=sample_format, layout="mono")
                frame.sample_rate = rate
                for packet in stream.encode(frame):
                    out.mux(packet)
            for packet in stream.encode(None):
                out.mux(packet)
        return path.read_bytes()


def stating(name: str, seconds: int) -> bytes:
    """A 2 s file whose container states `seconds` (as FFmpeg reads it)."""
    data = bytearray(encode(name, 2.0))
    if name == "opus":  # the last page's granule position (48 kHz samples), its CRC recomputed
        last = data.rfind(b"OggS")
        data[last + 6 : last + 14] = struct.pack("<q", 48_000 * seconds)
        data[last + 22 : last + 26] = b"\0\0\0\0"
        data[last + 22 : last + 26] = struct.pack("<I", _ogg_crc(bytes(data[last:])))
    elif name == "flac":  # STREAMINFO's 36-bit total samples
        packed = int.from_bytes(data[18:26], "big")
        packed = (packed & ~((1 << 36) - 1)) | (RATE * seconds)
        data[18:26] = packed.to_bytes(8, "big")
    elif name == "m4a":  # the movie's and media's durations, and the sample table's first run (what FFmpeg sums)
        for box in (b"mvhd", b"mdhd"):
            at = data.find(box) + 4 + 4 + 8  # version/flags, creation and modification times (version 0)
            timescale = struct.unpack(">I", data[at : at + 4])[0]
            data[at + 4 : at + 8] = struct.pack(">I", timescale * seconds)
        at = data.find(b"stts") + 4 + 4 + 4  # version/flags, entry count: then (sample count, sample delta) pairs
        count = struct.unpack(">I", data[at : at + 4])[0]
        data[at + 4 : at + 8] = struct.pack(">I", RATE * seconds // count)
        at = data.find(b"elst") + 4 + 4 + 4  # version/flags, entry count: then the first edit's duration
        data[at : at + 4] = struct.pack(">I", 1000 * seconds)  # in the movie's timescale (1000 here)
    elif name == "mp3":  # a Xing/Info frame count, inserted when the encoder wrote none: a VBR header FFmpeg trusts
        tag = re.search(rb"Xing|Info", data)
        assert tag is not None, "no Xing/Info header to patch"
        flags = struct.unpack(">I", data[tag.end() : tag.end() + 4])[0]
        assert flags & 1, "the Xing header carries no frame count"
        data[tag.end() + 4 : tag.end() + 8] = struct.pack(">I", RATE * seconds // 576)
    elif name == "wav":  # the data chunk's size (FFmpeg clamps it to the file: this bomb does not go off)
        at = data.find(b"data") + 4
        data[at : at + 4] = struct.pack("<I", RATE * 2 * seconds)
    return bytes(data)


def silent_without_stated_length(minutes: int) -> bytes:
    """A decompression bomb: `minutes` of silence in FLAC (a few hundred bytes a minute) whose STREAMINFO says
    nothing of its length (total samples 0: unknown), so only decoding can tell."""
    data = bytearray(encode("flac", minutes * 60, silence=True))
    packed = int.from_bytes(data[18:26], "big")
    data[18:26] = (packed & ~((1 << 36) - 1)).to_bytes(8, "big")
    return bytes(data)


def _ogg_crc(page: bytes) -> int:
    crc = 0
    for byte in page:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
            crc &= 0xFFFFFFFF
    return crc
