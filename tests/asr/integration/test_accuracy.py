"""Accuracy of the bundled tiny.en on both engines: real human speech and synthesised speech.

Ceilings are set a little above what was measured here (see bench/README.md), so a regression in
decoding settings, audio decoding or the converter shows up as a failure."""

import pytest

from asr import audio
from asr.engines.base import Options
from asr.evaluation import espeak_set, librivox_set, set_word_error_rate
from asr.models import ModelManager
from asr.settings import Settings

CEILINGS = {  # (set, engine): maximum word error rate
    ("librivox", "faster-whisper"): 0.10,
    ("librivox", "openai-whisper"): 0.10,
    ("espeak", "faster-whisper"): 0.12,
    ("espeak", "openai-whisper"): 0.12,
}


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    return {"librivox": librivox_set(), "espeak": espeak_set(tmp_path_factory.mktemp("espeak"))}


@pytest.fixture(scope="module")
def engines(tmp_path_factory):
    manager = ModelManager(Settings(device="cpu", model_cache_dir=tmp_path_factory.mktemp("models")))
    return {name: manager.get("tiny.en", engine=name) for name in ("faster-whisper", "openai-whisper")}


@pytest.mark.parametrize(("set_name", "engine_name"), sorted(CEILINGS))
def test_word_error_rate_stays_under_its_ceiling(sets, engines, set_name, engine_name):
    evaluation, engine = sets[set_name], engines[engine_name]
    hypotheses = []
    for utterance in evaluation.utterances:
        samples = audio.read(utterance.path, max_seconds=600)
        segments = engine.transcribe(samples, Options(beam_size=5)).segments
        hypotheses.append(" ".join(s.text.strip() for s in segments))
    rate = set_word_error_rate(evaluation, hypotheses)
    print(f"{set_name} {engine_name} WER {rate:.3f}")
    assert rate <= CEILINGS[(set_name, engine_name)], list(
        zip(hypotheses, [u.reference for u in evaluation.utterances])
    )
