"""One language for a whole file: `transcribe.run` detects it on the first chunk that holds speech and decodes the
rest in it, with a stand-in engine (the chunking, the options and the result are the service's own)."""

from __future__ import annotations

from pathlib import Path

from asr import transcribe
from asr.engines.base import Options, Segment, Transcription, TranscriptionInfo
from tests.asr.unit.test_language_ranking import wav

SAMPLE_RATE = 16_000


class Listener:
    """A multilingual stand-in: the first chunk is silence (a guess, no segments), the others German speech."""

    name, model, device, compute_type, multilingual = "stand-in", "base", "cpu", "int8", True

    def __init__(self) -> None:
        self.asked: list[str | None] = []

    def transcribe(self, audio, options: Options) -> Transcription:
        self.asked.append(options.language)
        if len(self.asked) == 1:
            return Transcription(iter(()), TranscriptionInfo("en", 0.31, len(audio) / SAMPLE_RATE))
        heard = options.language or "de"
        segment = Segment(0.0, 1.0, f"chunk {len(self.asked)}")
        return Transcription(iter([segment]), TranscriptionInfo(heard, 0.93, len(audio) / SAMPLE_RATE))

    def prompt_tokens(self, prompt: str) -> int:
        return 0


def _tone(path: Path, seconds: float) -> Path:
    path.write_bytes(wav(seconds))
    return path


def test_the_language_of_the_first_chunk_with_speech_is_held_for_the_rest(tmp_path: Path) -> None:
    engine = Listener()
    result = transcribe.run(engine, _tone(tmp_path / "a.wav", 40), Options(), chunk_seconds=8, max_seconds=600)
    assert len(engine.asked) >= 3
    assert engine.asked[:2] == [None, None]  # the silent first chunk decided nothing
    assert set(engine.asked[2:]) == {"de"}  # then held
    assert (result.language, result.language_probability) == ("de", 0.93)


def test_a_language_given_is_never_replaced(tmp_path: Path) -> None:
    engine = Listener()
    result = transcribe.run(
        engine, _tone(tmp_path / "a.wav", 24), Options(language="fr"), chunk_seconds=8, max_seconds=600
    )
    assert set(engine.asked) == {"fr"} and result.language == "fr" and result.language_probability is None
