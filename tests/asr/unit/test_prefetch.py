"""`transcribe.run` with an engine that queues a piece's windows before its segments are read (the batcher's): the
next piece is started while this one's segments are read, the language is held from the first piece with speech
before the next is started, and a transcription stopped early closes the pieces it had started."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from asr import transcribe
from asr.engines.base import Options, Segment, Transcription, TranscriptionInfo
from tests.asr.unit.test_language_ranking import wav

SAMPLE_RATE = 16_000


class Prefetching:
    """A multilingual stand-in that records when each piece is started and when its segments are read; the first
    piece is silence (VAD kept nothing), the others German speech."""

    name, model, device, compute_type, multilingual = "stand-in", "base", "cpu", "int8", True
    prefetches = True

    def __init__(self) -> None:
        self.events: list[str] = []
        self.asked: list[str | None] = []
        self.closed: list[int] = []

    def transcribe(self, audio, options: Options) -> Transcription:
        number = len(self.asked) + 1
        self.asked.append(options.language)
        self.events.append(f"start {number}")
        speech = 0.0 if number == 1 else len(audio) / SAMPLE_RATE
        info = TranscriptionInfo(options.language or "de", 0.9, len(audio) / SAMPLE_RATE, speech_seconds=speech)
        return Transcription(self._segments(number, speech > 0), info, on_close=lambda: self.closed.append(number))

    def _segments(self, number: int, speech: bool) -> Iterator[Segment]:
        self.events.append(f"read {number}")
        if speech:
            yield Segment(0.0, 1.0, f"piece {number}")

    def prompt_tokens(self, prompt: str) -> int:
        return 0


def test_the_next_piece_is_started_before_this_ones_segments_are_read(tmp_path: Path) -> None:
    engine = Prefetching()
    (tmp_path / "a.wav").write_bytes(wav(48))
    result = transcribe.run(engine, tmp_path / "a.wav", Options(), chunk_seconds=8, max_seconds=600)
    pieces = len(engine.asked)
    assert pieces >= 3
    assert engine.events[:3] == ["start 1", "start 2", "read 1"]  # piece 2 was queued while piece 1 decoded
    for number in range(2, pieces):
        assert engine.events.index(f"start {number + 1}") < engine.events.index(f"read {number}")
    # The first piece was silence; the second held German from its start (known before its segments).
    assert engine.asked[:2] == [None, None] and set(engine.asked[2:]) == {"de"}
    assert (result.language, result.language_probability) == ("de", 0.9)
    assert [s.text for s in result.segments] == [f"piece {n}" for n in range(2, pieces + 1)]


def test_a_transcription_stopped_early_closes_the_piece_it_had_started(tmp_path: Path) -> None:
    engine = Prefetching()
    (tmp_path / "a.wav").write_bytes(wav(48))

    def stop(seconds: float) -> None:  # a job cancelled while piece 2 is read
        if "read 2" in engine.events:
            raise RuntimeError("cancelled")

    with pytest.raises(RuntimeError, match="cancelled"):
        transcribe.run(engine, tmp_path / "a.wav", Options(), chunk_seconds=8, max_seconds=600, on_progress=stop)
    assert len(engine.asked) == 3  # piece 2 stopped the run while piece 3 was queued ahead of it
    assert "read 3" not in engine.events
    assert sorted(engine.closed) == [1, 2, 3]  # each one closed: the one read, the one stopped, the one ahead
