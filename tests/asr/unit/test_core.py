"""Pure parts of the ASR service: device choice, chunk cutting, response shapes, temperatures, model names."""

import numpy as np
import pytest

from asr import devices
from asr.audio import quiet_cut
from asr.engines.base import SAMPLE_RATE, Segment, Word
from asr.errors import DeviceUnavailable, ModelNotFound
from asr.models import ModelManager
from asr.request_spec import temperatures
from asr.responses import render, verbose_json
from asr.settings import Settings
from asr.transcribe import Result
from dhg_core.languages import LANGUAGES, language_name


def result(*segments):
    return Result(list(segments), "en", 4.0, 0.5, "faster-whisper", "tiny.en", "cpu")


SEGMENTS = (
    Segment(0.0, 1.5, " Hello there.", words=(Word(0.0, 0.5, " Hello", 0.9), Word(0.6, 1.4, " there.", 0.8))),
    Segment(2.0, 4.0, " General Kenobi.", avg_logprob=-0.3, no_speech_prob=0.01),
)


def test_auto_falls_back_to_cpu_and_counts_it_cuda_refuses_cpu_forces():
    from asr import metrics

    before = metrics.DEVICE_FALLBACKS.labels("faster-whisper")._value.get()
    assert devices.choose("auto", "faster-whisper", has_cuda=False) == "cpu"
    assert metrics.DEVICE_FALLBACKS.labels("faster-whisper")._value.get() == before + 1
    assert devices.choose("auto", "faster-whisper", has_cuda=True) == "gpu"
    assert devices.choose("cpu", "faster-whisper", has_cuda=True) == "cpu"
    with pytest.raises(DeviceUnavailable, match="no CUDA device"):
        devices.choose("gpu", "openai-whisper", has_cuda=False)


def test_chunks_are_cut_at_the_quietest_moment_near_their_end():
    loud = np.ones(SAMPLE_RATE * 30, dtype=np.float32) * 0.5
    quiet_at = SAMPLE_RATE * 22
    loud[quiet_at : quiet_at + SAMPLE_RATE // 5] = 0.0
    cut = quiet_cut(loud, search_seconds=20.0)
    assert quiet_at <= cut <= quiet_at + SAMPLE_RATE // 5


def test_shifted_segments_move_their_words_too():
    moved = SEGMENTS[0].shifted(600.0)
    assert (moved.start, moved.end) == (600.0, 601.5) and moved.words[1].start == 600.6
    assert SEGMENTS[1].shifted(1.0).words is None


def test_openai_response_shapes():
    body, media_type = render(result(*SEGMENTS), "json", "transcribe", set())
    assert body == {"text": "Hello there. General Kenobi."} and media_type == "application/json"
    verbose = verbose_json(result(*SEGMENTS), "transcribe", {"word"})
    assert verbose["language"] == "english" and verbose["duration"] == 4.0 and "segments" not in verbose
    assert verbose["words"] == [
        {"word": "Hello", "start": 0.0, "end": 0.5},
        {"word": "there.", "start": 0.6, "end": 1.4},
    ]
    both = verbose_json(result(*SEGMENTS), "transcribe", {"word", "segment"})
    assert [s["id"] for s in both["segments"]] == [0, 1] and both["segments"][1]["avg_logprob"] == -0.3
    srt, _ = render(result(*SEGMENTS), "srt", "transcribe", set())
    assert srt.startswith("1\n00:00:00,000 --> 00:00:01,500\nHello there.\n\n2\n00:00:02,000")
    text, media_type = render(result(), "text", "transcribe", set())
    assert text == "\n" and media_type.startswith("text/plain")


def test_language_names_are_openai_whispers_without_it():
    """verbose_json names languages from dhg_core.languages, which the images (no openai-whisper) carry: the same
    table."""
    from whisper.tokenizer import LANGUAGES as whispers

    assert whispers == LANGUAGES
    assert language_name("de") == "german" and language_name("xx") == "xx"


def test_temperature_starts_where_asked_and_falls_back_upwards():
    assert temperatures(0.0) == (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    assert temperatures(0.5) == (0.6, 0.8, 1.0)
    assert temperatures(1.0) == (1.0,)


def test_result_becomes_a_registry_transcript_keyed_by_the_job():
    import uuid

    job = uuid.uuid4()
    transcript = result(*SEGMENTS).to_transcript(job)
    assert transcript.job_id == job and transcript.text == "Hello there. General Kenobi."
    assert transcript.segments[0].words[0].word == " Hello" and transcript.segments[1].words is None
    assert (transcript.engine, transcript.model, transcript.device) == ("faster-whisper", "tiny.en", "cpu")


def test_model_names_resolve_from_settings_and_openai_aliases(tmp_path):
    manager = ModelManager(Settings(models={"tiny.en": "bundled", "big": str(tmp_path)}, default_model="tiny.en"))
    assert manager.resolve(None) == "tiny.en" and manager.resolve("whisper-1") == "tiny.en"
    assert manager.resolve("big") == "big"
    with pytest.raises(ModelNotFound, match=r"choose one of: big, tiny\.en"):
        manager.resolve("large-v3")
    with pytest.raises(ModelNotFound, match="not a CTranslate2 model directory"):
        manager.get("big")


def test_models_unload_after_the_idle_ttl_and_reload_on_use():
    manager = ModelManager(Settings(model_idle_seconds=60, device="cpu", default_model="tiny.en"))
    first = manager.get("tiny.en")
    assert manager.get("whisper-1") is first
    assert manager.unload_idle(now=0.0) == []
    import time

    assert manager.unload_idle(now=time.monotonic() + 61) == ["tiny.en"]
    assert manager.loaded() == []
    assert manager.get("tiny.en") is not first
