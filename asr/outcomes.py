"""How a transcription ended, read from the error that ended it (pure), and its count."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

from asr import errors, metrics
from asr.metrics import Outcome

_BY_ERROR: tuple[tuple[tuple[type[BaseException], ...], Outcome], ...] = (
    ((errors.BadAudio, errors.EmptyAudio, errors.AudioTooLong, errors.TooLarge), "bad_audio"),
    ((errors.InvalidRequest, errors.ModelNotFound), "invalid"),
    ((errors.QueueFull,), "rejected"),
    ((errors.JobCancelled, asyncio.CancelledError), "cancelled"),
)


def outcome_of(error: BaseException) -> Outcome:
    """The outcome label of a transcription that `error` ended; anything unforeseen is ours: `error`."""
    for kinds, outcome in _BY_ERROR:
        if isinstance(error, kinds):
            return outcome
    return "error"


@contextmanager
def counted(engine: str, device: str) -> Iterator[None]:
    """Count a transcription that ends in an error by its outcome (`transcribe.run` counts those that end ok)."""
    try:
        yield
    except BaseException as error:
        metrics.TRANSCRIPTIONS.labels(engine, device, outcome_of(error)).inc()
        raise
