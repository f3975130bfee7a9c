"""The ASR service's OpenAPI document says what every route answers (a schema for each success body, no `{}`), and
the bodies its JSON formats make are OpenAI's own types, read by the `openai` package's models."""

from __future__ import annotations

import pytest
from openai.types.audio import Transcription, TranscriptionDiarized, TranscriptionVerbose

from asr.app import create_app
from asr.engines.base import Segment, Word
from asr.responses import render
from asr.settings import Settings
from asr.transcribe import Result


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("asr-openapi")
    return create_app(Settings(outbox_dir=folder / "outbox", spool_dir=folder / "spool")).openapi()


def test_every_success_answer_has_a_schema(document: dict) -> None:
    empty = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, answer in operation["responses"].items():
                if not status.startswith("2"):
                    continue
                for media_type, content in answer.get("content", {}).items():
                    if not content.get("schema"):
                        empty.append(f"{method.upper()} {path} {status} {media_type}")
    assert not empty, empty


def test_the_transcript_routes_document_each_format_and_the_async_answer(document: dict) -> None:
    schemas = document["components"]["schemas"]
    for path in ("/v1/audio/transcriptions", "/v1/audio/translations"):
        answers = document["paths"][path]["post"]["responses"]
        assert {"application/json", "text/plain", "text/event-stream"} <= set(answers["200"]["content"])
        one_of = answers["200"]["content"]["application/json"]["schema"]["anyOf"]
        assert {ref["$ref"].rsplit("/", 1)[1] for ref in one_of} == {
            "TranscriptionBody",
            "VerboseTranscriptionBody",
            "DiarizedTranscriptionBody",
        }
        assert answers["202"]["content"]["application/json"]["schema"]["$ref"].endswith("/JobView")
    assert set(schemas["JobView"]["required"]) >= {"id", "status", "progress", "result_url"}
    language = document["paths"]["/v1/audio/language"]["post"]["responses"]["200"]
    assert language["content"]["application/json"]["schema"]["$ref"].endswith("/LanguageDetection")


def _result() -> Result:
    words = (Word(0.0, 0.5, " Hello", 0.9), Word(0.6, 1.4, " there.", 0.8))
    segments = [
        Segment(0.0, 1.5, " Hello there.", words=words, avg_logprob=-0.2, speaker="A"),
        Segment(2.0, 4.0, " General Kenobi.", avg_logprob=-0.3, speaker="B"),
    ]
    return Result(segments, "en", 4.0, 0.5, "faster-whisper", "base", "cpu", language_probability=0.97)


def test_the_json_bodies_are_openais_types() -> None:
    plain, _ = render(_result(), "json", "transcribe", set(), include=frozenset({"logprobs"}))
    parsed = Transcription.model_validate(plain)
    assert parsed.text == "Hello there. General Kenobi." and parsed.logprobs and parsed.logprobs[0].token == " Hello"
    verbose, _ = render(_result(), "verbose_json", "transcribe", {"word", "segment"})
    read = TranscriptionVerbose.model_validate(verbose)
    assert (read.language, read.duration) == ("english", 4.0)
    assert read.segments and [s.start for s in read.segments] == [0.0, 2.0]
    assert read.words and [w.word for w in read.words] == ["Hello", "there."]
    assert verbose["language_probability"] == 0.97 and verbose["segments"][1]["speaker"] == "B"
    diarized, _ = render(_result(), "diarized_json", "transcribe", set())
    turns = TranscriptionDiarized.model_validate(diarized)
    assert [(s.speaker, s.text) for s in turns.segments] == [("A", "Hello there."), ("B", "General Kenobi.")]
    assert turns.usage is not None and turns.usage.type == "duration"


def test_optional_fields_are_left_out_not_null() -> None:
    bare = Result([Segment(0.0, 1.0, " Hi.")], "en", 1.0, 0.1, "faster-whisper", "base", "cpu")
    verbose, _ = render(bare, "verbose_json", "transcribe", set())
    assert "language_probability" not in verbose and "words" not in verbose and "speaker" not in verbose["segments"][0]
    plain, _ = render(bare, "json", "transcribe", set())
    assert plain == {"text": "Hi."}
