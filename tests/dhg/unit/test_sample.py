from __future__ import annotations

import uuid
import wave
from pathlib import Path

from dhg.sample import SAMPLE_RATE, SAMPLE_SECONDS, placeholder_transcript, sample_audio
from registry.schemas import TranscriptIn


def test_sample_is_a_short_mono_16khz_wav_with_the_same_bytes_every_time(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, second = sample_audio(tmp_path / "a"), sample_audio(tmp_path / "b")
    assert first.read_bytes() == second.read_bytes()
    with wave.open(str(first), "rb") as handle:
        assert (handle.getnchannels(), handle.getsampwidth(), handle.getframerate()) == (1, 2, SAMPLE_RATE)
        assert handle.getnframes() == round(SAMPLE_SECONDS * SAMPLE_RATE)
    assert first.stat().st_size < 64 * 1024


def test_placeholder_transcript_is_a_valid_registry_body_marked_as_placeholder() -> None:
    body = TranscriptIn.model_validate(placeholder_transcript(asset_id=uuid.uuid4(), duration_seconds=1.5))
    assert body.model == "placeholder"
    assert len(body.segments) >= 2
    assert all(segment.end <= SAMPLE_SECONDS for segment in body.segments)
    assert placeholder_transcript(asset_id=uuid.uuid4(), duration_seconds=None)["job_id"] != str(body.job_id)
