"""How many speakers can be asked for, said once: the ASR API's form fields, the worker's and the CLI's options, the
TranscriptionJob model and its CEL rule bound and check a speaker count with these."""

from __future__ import annotations

MIN_SPEAKERS = 1
MAX_SPEAKERS = 20  # the clustering's ceiling (asr/diarization/clustering.py)


def bounds_error(
    min_speakers: int | None, max_speakers: int | None, names: tuple[str, str] = ("min_speakers", "max_speakers")
) -> str | None:
    """What is wrong with the bounds `min_speakers`..`max_speakers` (None: nothing), naming them as `names` (each
    side may be left out)."""
    for name, value in zip(names, (min_speakers, max_speakers), strict=True):
        if value is not None and not MIN_SPEAKERS <= value <= MAX_SPEAKERS:
            return f"{name} must be from {MIN_SPEAKERS} to {MAX_SPEAKERS}, not {value}"
    if min_speakers is not None and max_speakers is not None and min_speakers > max_speakers:
        return disorder(*names)
    return None


def disorder(low: str, high: str) -> str:
    """The error when the lower bound `low` is above the upper one `high`."""
    return f"{low} is above {high}"


def ordered_rule(low: str, high: str) -> str:
    """The order check as a CEL rule over the object's fields `low` and `high` (the CRD's x-kubernetes-validations)."""
    return f"!has(self.{low}) || !has(self.{high}) || self.{low} <= self.{high}"
