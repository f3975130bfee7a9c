"""The sample `dhg up` transcribes: real speech shipped with the package, and what it says."""

from __future__ import annotations

import uuid
from pathlib import Path

SAMPLE_PATH = Path(__file__).parent / "samples" / "sense-and-sensibility.opus"
# LibriVox, Sense and Sensibility, chapter 1 (see samples/README.md), as LibriSpeech writes references.
REFERENCE_TEXT = (
    "and mister john dashwood had then leisure to consider how much there might be prudently in his power to do "
    "for them he was not an ill disposed young man unless to be rather cold hearted and rather selfish is to be "
    "ill disposed"
)
SEARCH_QUERY = "a selfish young man"
# Job ids of audio transcribed by `dhg up`: uuid5 of the audio's sha256 under this namespace, so a rerun sends
# the same job id and the Registry keeps one transcript.
JOB_NAMESPACE = uuid.UUID("5b7f0c52-1d0e-4f4e-9a55-6a2f3d8c9e01")


def sample_job_id(sha256: str) -> uuid.UUID:
    """The job id under which the audio with this sha256 is transcribed by `dhg up`."""
    return uuid.uuid5(JOB_NAMESPACE, sha256)
