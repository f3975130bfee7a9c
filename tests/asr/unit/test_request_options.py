"""The rest of OpenAI's transcription request, read into our options: chunking_strategy, include[], hotwords and
keywords[], subtitle layout; model-name aliases."""

from __future__ import annotations

import math

import pytest

from asr.engines.base import Segment, TokenLogprob, VadSettings, Word
from asr.errors import InvalidRequest, ModelNotFound
from asr.models import ModelManager
from asr.request_options import Subtitles, hotwords, includes, vad_settings
from asr.responses import logprobs
from asr.settings import Settings
from asr.transcribe import Result
from dhg_core.formats import subtitle_cues, write_srt, write_vtt


def test_chunking_strategy_maps_onto_the_vad() -> None:
    assert vad_settings(None) == vad_settings("auto") == VadSettings()
    expected = VadSettings(threshold=0.6, min_silence_ms=700, speech_pad_ms=250)
    as_json = '{"type": "server_vad", "threshold": 0.6, "prefix_padding_ms": 250, "silence_duration_ms": 700}'
    assert vad_settings(as_json) == expected
    assert vad_settings(None, "server_vad", "0.6", "250", "700") == expected  # the official client's form fields
    assert expected.parameters() == {"threshold": 0.6, "min_silence_duration_ms": 700, "speech_pad_ms": 250}


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        (("semantic",), "'auto' or a server_vad object"),
        (("[1, 2]",), "'auto' or a server_vad object"),
        (('{"type": "semantic_vad"}',), "type must be server_vad"),
        ((None, "server_vad", "1.5"), "threshold must be a number from 0.0 to 1.0"),
        ((None, "server_vad", "NaN"), "threshold"),
        ((None, "server_vad", None, "12.5"), "whole number"),
        ((None, "server_vad", None, None, "-1"), "silence_duration_ms"),
        (('{"type": "server_vad", "threshold": true}',), "threshold"),
    ],
)
def test_a_bad_chunking_strategy_is_refused_naming_it(arguments: tuple, says: str) -> None:
    with pytest.raises(InvalidRequest, match="chunking_strategy") as refused:
        vad_settings(*arguments)
    assert says in refused.value.detail


def test_hotwords_and_keywords_are_one_string() -> None:
    assert hotwords(None, []) is None and hotwords("  ", [" "]) is None
    assert hotwords("Kubernetes", ["pgvector", " Kopf "]) == "Kubernetes pgvector Kopf"
    with pytest.raises(InvalidRequest, match="at most 1000"):
        hotwords("x" * 1001, [])


def test_include_logprobs_is_for_json() -> None:
    assert includes(["logprobs"], "json") == {"logprobs"}
    with pytest.raises(InvalidRequest, match="response_format json"):
        includes(["logprobs"], "verbose_json")
    with pytest.raises(InvalidRequest, match="not tokens"):
        includes(["tokens"], "json")


def test_logprobs_are_the_tokens_where_the_engine_scored_them() -> None:
    tokens = (TokenLogprob(" Dash", -0.1, tuple(b" Dash")), TokenLogprob("wood", -0.02, tuple(b"wood")))
    words = (Word(0.0, 1.0, " Dashwood", 0.9),)
    segment = Segment(0.0, 1.0, " Dashwood", words, tokens=tokens)
    result = Result([segment], "en", 1.0, 0.1, "faster-whisper", "tiny.en", "cpu")
    assert logprobs(result) == [
        {"token": " Dash", "logprob": -0.1, "bytes": list(b" Dash")},
        {"token": "wood", "logprob": -0.02, "bytes": list(b"wood")},
    ]


def test_logprobs_fall_back_to_words_natural_log_probabilities() -> None:
    words = (Word(0.0, 0.5, " Hi", 0.5), Word(0.5, 1.0, " café", 1.0))
    result = Result([Segment(0.0, 1.0, " Hi café", words)], "en", 1.0, 0.1, "faster-whisper", "tiny.en", "cpu")
    entries = logprobs(result)
    assert entries[0] == {"token": " Hi", "logprob": math.log(0.5), "bytes": list(b" Hi")}
    assert entries[1]["logprob"] == 0.0 and entries[1]["bytes"] == list(" café".encode())


def _words(text: str, start: float = 0.0) -> list[dict]:
    return [{"start": start + i, "end": start + i + 0.9, "word": " " + w} for i, w in enumerate(text.split())]


def test_subtitles_are_laid_out_from_words() -> None:
    segments = [
        {
            "start": 0,
            "end": 6,
            "text": "one two three four five six",
            "speaker": "A",
            "words": _words("one two three four five six"),
        },
        {"start": 6, "end": 7, "text": "seven", "speaker": "B", "words": _words("seven", 6)},
        {"start": 8, "end": 9, "text": "no words here"},
    ]
    cues = subtitle_cues(segments, max_words_per_line=2, max_line_count=2)
    assert [c["text"] for c in cues] == ["one two\nthree four", "five six", "seven", "no words here"]
    assert [(c["start"], c["end"], c.get("speaker")) for c in cues[:3]] == [(0, 3.9, "A"), (4, 5.9, "A"), (6, 6.9, "B")]
    narrow = subtitle_cues(segments[:1], max_line_width=9)
    assert narrow[0]["text"].split("\n") == ["one two", "three", "four five", "six"]
    srt = write_srt({"segments": cues})
    assert "00:00:00,000 --> 00:00:03,900\n[A] one two\nthree four\n" in srt
    assert "<v A>one two\nthree four" in write_vtt({"segments": cues})


def test_subtitle_options_are_for_srt_and_vtt() -> None:
    assert Subtitles(max_line_width=40).check("srt").asked
    with pytest.raises(InvalidRequest, match="srt and vtt only"):
        Subtitles(max_words_per_line=3).check("json")
    with pytest.raises(InvalidRequest, match="needs max_line_width or max_words_per_line"):
        Subtitles(max_line_count=2).check("vtt")


def test_openai_model_names_are_served_by_the_configured_models() -> None:
    manager = ModelManager(Settings())
    for alias in ("whisper-1", "gpt-4o-transcribe", "gpt-4o-mini-transcribe", "gpt-4o-transcribe-diarize", None):
        assert manager.resolve(alias) == "base"  # the default model, multilingual
    mapped = ModelManager(
        Settings(
            models={"tiny.en": "bundled", "big": "/m"},
            default_model="tiny.en",
            model_aliases={"gpt-4o-transcribe": "big"},
        )
    )
    assert mapped.resolve("gpt-4o-transcribe") == "big" and mapped.resolve("big") == "big"
    assert mapped.resolve("whisper-1") == "tiny.en"  # the names not mapped keep meaning the default
    with pytest.raises(ModelNotFound):
        ModelManager(Settings(models={"tiny.en": "bundled"}, model_aliases={"whisper-1": "big"})).resolve("whisper-1")
