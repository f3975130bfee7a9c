"""Who spoke when, over real HTTP with the real model, the real speaker encoder and the official OpenAI client: a
two-speaker conversation (two of flite's voices, mixed by the evaluation set's generator with its reference turns)
comes back as `diarized_json` with two speakers at a low diarization error rate; known speakers are named; a speaker
count is kept; streams carry the speaker; what cannot be done is refused before any decoding."""

from __future__ import annotations

import base64
import time

import httpx
import pytest
from openai import BadRequestError, OpenAI

from asr.diarization.evaluation import Conversation, converse, diarization_error_rate, voices
from tests.asr.integration.test_service import wav_bytes
from tests.asr.service import start_asr

KEY = "test-asr-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
MAX_DER = 0.15  # the target for the evaluation set; this easy pair does far better (about 0.02)


@pytest.fixture(scope="module")
def voices_used() -> dict[str, list]:
    found = {voice.name: voice for voice in voices()}
    return {name: found[name].utterances() for name in ("flite-awb", "flite-slt")}


@pytest.fixture(scope="module")
def conversation(voices_used: dict[str, list]) -> Conversation:
    """About 40 s: the first eight lines of each voice, turn by turn, with pauses; the other lines are references."""
    speakers = [(name, utterances[:8]) for name, utterances in voices_used.items()]
    return converse("two-people", speakers, seconds=40, seed=3, overlap_chance=0.0)


@pytest.fixture(scope="module")
def audio(conversation: Conversation) -> bytes:
    return wav_bytes(conversation.audio)


@pytest.fixture(scope="module")
def asr(tmp_path_factory):
    service = start_asr(
        outbox_dir=tmp_path_factory.mktemp("outbox"), spool_dir=tmp_path_factory.mktemp("spool"), api_key=KEY
    )
    yield service
    service.stop()


@pytest.fixture(scope="module")
def client(asr) -> OpenAI:
    return OpenAI(base_url=f"{asr.url}/v1", api_key=KEY, max_retries=0, timeout=300)


def reference_clip(utterance) -> str:
    return "data:audio/wav;base64," + base64.b64encode(wav_bytes(utterance)).decode()


def hypothesis(segments) -> list[tuple[float, float, str]]:
    return [(s.start, s.end, s.speaker) for s in segments]


def test_diarized_json_finds_the_two_speakers(client: OpenAI, audio: bytes, conversation: Conversation) -> None:
    result = client.audio.transcriptions.create(
        model="whisper-1", file=("talk.wav", audio, "audio/wav"), response_format="diarized_json"
    )
    assert type(result).__name__ == "TranscriptionDiarized"  # the client's own model for this answer
    assert {s.speaker for s in result.segments} == {"A", "B"}
    assert result.segments[0].speaker == "A"  # the first to speak
    assert all(s.type == "transcript.text.segment" and s.text for s in result.segments)
    der = diarization_error_rate(conversation.turns, hypothesis(result.segments))
    assert der["der"] <= MAX_DER, der
    assert "report" in result.text.lower()


def test_known_speakers_are_named(
    client: OpenAI, audio: bytes, conversation: Conversation, voices_used: dict[str, list]
) -> None:
    names = {"flite-awb": "Alan", "flite-slt": "Sarah"}
    result = client.audio.transcriptions.create(
        model="whisper-1",
        file=("talk.wav", audio, "audio/wav"),
        response_format="diarized_json",
        known_speaker_names=list(names.values()),
        known_speaker_references=[reference_clip(voices_used[voice][10]) for voice in names],
    )
    assert {s.speaker for s in result.segments} == {"Alan", "Sarah"}
    truth = [(start, end, names[speaker]) for start, end, speaker in conversation.turns]
    der = diarization_error_rate(truth, hypothesis(result.segments))
    assert der["confusion"] / der["total"] <= 0.05, der  # the names are on the right people


def test_a_speaker_count_is_kept_and_other_formats_carry_speakers(asr, audio: bytes) -> None:
    response = httpx.post(
        f"{asr.url}/v1/audio/transcriptions",
        headers=AUTH,
        files={"file": ("talk.wav", audio, "audio/wav")},
        data={"response_format": "verbose_json", "min_speakers": "3", "max_speakers": "3"},
        timeout=300,
    )
    assert response.status_code == 200, response.text
    assert len({s["speaker"] for s in response.json()["segments"]}) == 3
    srt = httpx.post(
        f"{asr.url}/v1/audio/transcriptions",
        headers=AUTH,
        files={"file": ("talk.wav", audio, "audio/wav")},
        data={"response_format": "srt", "max_speakers": "2"},
        timeout=300,
    ).text
    assert "\n[A] " in srt and "\n[B] " in srt


def test_a_diarized_stream_sends_each_segment_with_its_speaker(client: OpenAI, audio: bytes) -> None:
    stream = client.audio.transcriptions.create(
        model="whisper-1", file=("talk.wav", audio, "audio/wav"), response_format="diarized_json", stream=True
    )
    events = list(stream)
    segments = [e for e in events if e.type == "transcript.text.segment"]
    deltas = [e for e in events if e.type == "transcript.text.delta"]
    assert events[-1].type == "transcript.text.done"
    assert {e.speaker for e in segments} == {"A", "B"}
    assert "".join(d.delta for d in deltas) == events[-1].text
    assert len(segments) == len(deltas)


def test_an_async_job_answers_with_speakers(asr, audio: bytes) -> None:
    accepted = httpx.post(
        f"{asr.url}/v1/audio/transcriptions",
        headers={**AUTH, "Prefer": "respond-async"},
        files={"file": ("talk.wav", audio, "audio/wav")},
        data={"response_format": "diarized_json"},
    )
    assert accepted.status_code == 202, accepted.text
    deadline = time.monotonic() + 300
    while (view := httpx.get(f"{asr.url}{accepted.headers['location']}", headers=AUTH).json())["status"] not in (
        "succeeded",
        "failed",
    ):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    result = httpx.get(f"{asr.url}{view['result_url']}", headers=AUTH).json()
    assert {s["speaker"] for s in result["segments"]} == {"A", "B"}


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ({"known_speaker_names[]": "Ann"}, "give one reference clip per name"),
        ({"min_speakers": "3", "max_speakers": "2"}, "min_speakers is above max_speakers"),
        ({"max_speakers": "0"}, None),
        ({"known_speaker_names[]": "Ann", "known_speaker_references[]": "https://x.test/a.wav"}, "data URL"),
    ],
)
def test_what_cannot_be_done_is_refused_with_the_reason(asr, data: dict, says: str | None) -> None:
    response = httpx.post(
        f"{asr.url}/v1/audio/transcriptions",
        headers=AUTH,
        files={"file": ("talk.wav", b"RIFF", "audio/wav")},  # never decoded: the request is refused first
        data={"response_format": "diarized_json", **data},
    )
    assert response.status_code in (400, 422), response.text
    assert response.headers["content-type"] == "application/problem+json"
    if says:
        assert says in response.json()["detail"]


def test_translations_have_no_speakers(client: OpenAI, audio: bytes) -> None:
    with pytest.raises(BadRequestError, match="transcriptions only"):
        client.audio.translations.create(
            model="whisper-1", file=("talk.wav", audio, "audio/wav"), response_format="diarized_json"
        )


def test_without_a_diarization_backend_speakers_are_501(tmp_path, audio: bytes) -> None:
    service = start_asr(outbox_dir=tmp_path / "outbox", diarization_backend="off")
    try:
        response = httpx.post(
            f"{service.url}/v1/audio/transcriptions",
            files={"file": ("talk.wav", audio, "audio/wav")},
            data={"response_format": "diarized_json"},
            timeout=300,
        )
        assert response.status_code == 501
        assert response.json()["type"].endswith("/diarization-unavailable")
        plain = httpx.post(
            f"{service.url}/v1/audio/transcriptions", files={"file": ("talk.wav", audio, "audio/wav")}, timeout=300
        )
        assert plain.status_code == 200 and plain.json()["text"]
    finally:
        service.stop()


def test_a_stream_with_word_timestamps_is_sent(client: OpenAI, audio: bytes) -> None:
    """Word timestamps set segment times from NumPy values in faster-whisper: the events must still encode."""
    stream = client.audio.transcriptions.create(
        model="whisper-1", file=("talk.wav", audio, "audio/wav"), stream=True, timestamp_granularities=["word"]
    )
    events = list(stream)
    assert events[-1].type == "transcript.text.done" and "report" in events[-1].text.lower()
