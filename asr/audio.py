"""Decoding through PyAV (FFmpeg's libraries) into 16 kHz mono float32, as a stream of chunks, so a
multi-hour file never sits whole in memory; chunks are cut at the quietest moment near their end so
that no word is split. Limits on duration are enforced while decoding."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np

from asr.engines.base import SAMPLE_RATE, Audio
from asr.errors import AudioTooLong, BadAudio, EmptyAudio

CUT_SEARCH_SECONDS = 20.0  # look for a quiet cut point in this much audio before a chunk's nominal end
CUT_FRAME_SECONDS = 0.1


def _frames(source: Path | BinaryIO) -> Generator[Audio, None, None]:
    import av

    try:
        container = av.open(source, mode="r", metadata_errors="ignore")
    except (av.error.FFmpegError, ValueError) as error:
        raise BadAudio(f"the file could not be read as audio or video: {error}") from error
    with container:
        if not container.streams.audio:
            raise BadAudio("the file has no audio stream")
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        try:
            for frame in container.decode(container.streams.audio[0]):
                for resampled in resampler.resample(frame):
                    yield resampled.to_ndarray().reshape(-1).astype(np.float32, copy=False)
            for resampled in resampler.resample(None):
                yield resampled.to_ndarray().reshape(-1).astype(np.float32, copy=False)
        except av.error.FFmpegError as error:
            raise BadAudio(f"the audio could not be decoded: {error}") from error


def quiet_cut(audio: Audio, search_seconds: float = CUT_SEARCH_SECONDS) -> int:
    """Sample index of the quietest CUT_FRAME_SECONDS frame within the last `search_seconds` of `audio`."""
    frame = int(CUT_FRAME_SECONDS * SAMPLE_RATE)
    start = max(0, len(audio) - int(search_seconds * SAMPLE_RATE))
    tail = audio[start : start + (len(audio) - start) // frame * frame]
    if len(tail) < frame:
        return len(audio)
    energy = np.square(tail.reshape(-1, frame)).mean(axis=1)
    return start + int(np.argmin(energy)) * frame + frame // 2


def chunks(source: Path | BinaryIO, *, chunk_seconds: float, max_seconds: float) -> Iterator[tuple[float, Audio]]:
    """(offset in seconds, samples) pieces of about `chunk_seconds`, cut at quiet points."""
    target = int(chunk_seconds * SAMPLE_RATE)
    limit = int(max_seconds * SAMPLE_RATE)
    pending: list[Audio] = []
    pending_samples, emitted = 0, 0
    for piece in _frames(source):
        pending.append(piece)
        pending_samples += len(piece)
        if emitted + pending_samples > limit:
            raise AudioTooLong(f"the audio is longer than {max_seconds:.0f} s")
        if pending_samples >= target + int(CUT_SEARCH_SECONDS * SAMPLE_RATE):
            buffer = np.concatenate(pending)
            cut = quiet_cut(buffer[: target + int(CUT_SEARCH_SECONDS * SAMPLE_RATE)])
            yield emitted / SAMPLE_RATE, buffer[:cut]
            emitted += cut
            pending, pending_samples = [buffer[cut:]], len(buffer) - cut
    if pending_samples:
        yield emitted / SAMPLE_RATE, np.concatenate(pending)
    elif emitted == 0:
        raise EmptyAudio("the file holds no audio samples")


def read(source: Path | BinaryIO, *, max_seconds: float) -> Audio:
    """The whole file as one array (for short audio and language detection)."""
    pieces = [piece for _, piece in chunks(source, chunk_seconds=max_seconds, max_seconds=max_seconds)]
    return pieces[0] if len(pieces) == 1 else np.concatenate(pieces)


def head(source: Path | BinaryIO, *, seconds: float) -> Audio:
    """The first `seconds` of the audio (language detection looks at no more than 30 s)."""
    limit = int(seconds * SAMPLE_RATE)
    collected: list[Audio] = []
    total = 0
    frames = _frames(source)
    try:
        for piece in frames:
            collected.append(piece)
            total += len(piece)
            if total >= limit:
                break
    finally:
        frames.close()
    if total == 0:
        raise EmptyAudio("the file holds no audio samples")
    return np.concatenate(collected)[:limit]


def probe(source: Path | BinaryIO) -> float | None:
    """Check that `source` holds an audio stream FFmpeg can open (BadAudio otherwise) and return its duration as
    the container states it, or None when it does not say. Reads headers only (a file is left at its start)."""
    import av

    try:
        opened = str(source) if isinstance(source, Path) else source
        with av.open(opened, mode="r", metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise BadAudio("the file has no audio stream")
            stream = container.streams.audio[0]
            if stream.duration is not None and stream.time_base is not None:
                return float(stream.duration * stream.time_base)
            if container.duration is not None:
                return float(container.duration) / av.time_base
    except (av.error.FFmpegError, ValueError) as error:
        raise BadAudio(f"the file could not be read as audio or video: {error}") from error
    finally:
        if not isinstance(source, Path):
            source.seek(0)
    return None
