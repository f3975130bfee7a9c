"""Live transcription over `/v1/realtime`, driven by the official `openai` client (`client.realtime.connect`) and by a
raw WebSocket where the client hides what is tested (close codes, subprotocols), against the real service, the real
tiny.en and real speech. Every event received is checked against the package's types strictly."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import av
import numpy as np
import pytest
from openai import OpenAI
from openai.types.realtime import RealtimeTranscriptionSessionCreateRequest
from pydantic import TypeAdapter
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect

from asr.evaluation import word_error_rate
from asr.realtime.formats import encode_pcm16, encode_pcm24
from tests.asr.integration.test_stream_jobs_language import sample_samples
from tests.asr.live import CHUNK_SECONDS, COMPLETED, DELTA, chunks, g711, of_type, received
from tests.asr.service import SAMPLE_REFERENCE, start_asr

KEY = "test-live-key"
MAX_WER = 0.3  # tiny.en on the sample, turn by turn: about 0.05; a transcript of the wrong audio is far above


def client(service: Any) -> OpenAI:
    return OpenAI(base_url=f"{service.url}/v1", api_key=KEY, max_retries=0)


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    return sample_samples()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    service = start_asr(api_key=KEY, outbox_dir=tmp_path_factory.mktemp("outbox"), realtime_sessions=2)
    yield service
    service.stop()


def test_the_official_client_gets_live_deltas_and_completed_turns_of_speech(live: Any, speech: np.ndarray) -> None:
    audio = encode_pcm24(np.concatenate([np.zeros(16000, np.float32), speech, np.zeros(32000, np.float32)]))
    heard = threading.Event()  # the first delta came: the rest of the audio may go at once
    with client(live).realtime.connect(extra_query={"intent": "transcription"}) as connection:
        created = connection.recv()
        assert created.type == "session.created"
        assert isinstance(created.session, RealtimeTranscriptionSessionCreateRequest)
        connection.session.update(
            session={
                "type": "transcription",
                "audio": {
                    "input": {
                        "format": {"type": "audio/pcm", "rate": 24000},
                        "transcription": {"model": "tiny.en", "language": "en"},
                        "turn_detection": {"type": "server_vad", "silence_duration_ms": 500},
                    }
                },
            }
        )
        updated = connection.recv()
        assert updated.type == "session.updated"
        assert isinstance(updated.session, RealtimeTranscriptionSessionCreateRequest)
        assert updated.session.audio.input.transcription.model == "tiny.en"

        def speak() -> None:  # in real time (as a microphone) until words come back, then the rest at once
            for piece in chunks(audio, 48000):
                connection.input_audio_buffer.append(audio=piece)
                if not heard.is_set():
                    time.sleep(CHUNK_SECONDS)

        speaker = threading.Thread(target=speak)
        speaker.start()

        def all_done(events: list[dict[str, Any]]) -> bool:
            if of_type(events, DELTA):
                heard.set()
            stopped = of_type(events, "input_audio_buffer.speech_stopped")
            done = of_type(events, COMPLETED)
            ended = bool(stopped) and stopped[-1]["audio_end_ms"] > len(audio) / 48 - 2500
            return ended and len(done) == len(of_type(events, "input_audio_buffer.committed"))

        try:
            events = received(connection, all_done)
        finally:
            heard.set()
            speaker.join()
    started = of_type(events, "input_audio_buffer.speech_started")
    committed = of_type(events, "input_audio_buffer.committed")
    completed = of_type(events, COMPLETED)
    assert len(started) == len(committed) == len(completed) >= 2  # the reading's pauses end turns
    assert started[0]["audio_start_ms"] >= 500  # the first second is silence (less the 300 ms padding)
    assert [c["previous_item_id"] for c in committed] == [None] + [c["item_id"] for c in committed[:-1]]
    # Live: the first turn's first words came while it was still being spoken, before its speech stopped.
    first = started[0]["item_id"]
    kinds = [(e["type"], e.get("item_id")) for e in events]
    assert kinds.index((DELTA, first)) < kinds.index(("input_audio_buffer.speech_stopped", first))
    for done in completed:  # append-only: each turn's deltas add up to its completed transcript
        deltas = [e["delta"] for e in of_type(events, DELTA) if e["item_id"] == done["item_id"]]
        assert "".join(deltas) == done["transcript"] and done["usage"]["type"] == "duration"
    text = " ".join(done["transcript"] for done in completed)
    assert word_error_rate(SAMPLE_REFERENCE, text) <= MAX_WER, text


@pytest.mark.parametrize("audio_format", ["audio/pcmu", "audio/pcma", "audio/pcm@16000"])
def test_committed_by_hand_in_each_format(live: Any, speech: np.ndarray, audio_format: str) -> None:
    kind, _, rate = audio_format.partition("@")
    if kind == "audio/pcm":
        data, per_second, fmt = encode_pcm16(speech), 32000, {"type": kind, "rate": int(rate)}
    else:
        data, per_second, fmt = g711(speech, kind), 8000, {"type": kind}
    with client(live).realtime.connect() as connection:
        connection.recv()
        connection.session.update(
            session={"type": "transcription", "audio": {"input": {"format": fmt, "turn_detection": None}}}
        )
        for piece in chunks(data, per_second):
            connection.input_audio_buffer.append(audio=piece)
        connection.input_audio_buffer.commit()
        events = received(connection, lambda events: of_type(events, COMPLETED))
    assert of_type(events, "session.updated")[0]["session"]["audio"]["input"]["turn_detection"] is None
    assert not of_type(events, "input_audio_buffer.speech_started")  # no server VAD
    (done,) = of_type(events, COMPLETED)
    assert done["usage"]["seconds"] == pytest.approx(len(speech) / 16000, abs=0.1)
    assert word_error_rate(SAMPLE_REFERENCE, done["transcript"]) <= MAX_WER, done["transcript"]


def test_bad_events_are_answered_with_errors_and_the_session_goes_on(live: Any, speech: np.ndarray) -> None:
    with client(live).realtime.connect() as connection:
        connection.recv()
        connection.send_raw("{not json")
        connection.send_raw(json.dumps({"type": "response.create", "event_id": "evt-1"}))
        connection.send_raw(json.dumps({"type": "input_audio_buffer.append", "audio": "%%% not base64"}))
        connection.input_audio_buffer.commit()  # nothing to commit
        connection.send_raw(json.dumps({"type": "session.update", "session": {"type": "transcription", "voice": "x"}}))
        connection.send_raw(b"\x00\x01binary")
        errors = received(connection, lambda events: len(of_type(events, "error")) == 6)
        codes = [(e["error"]["code"], e["error"]["param"], e["error"]["event_id"]) for e in errors]
        assert codes == [
            ("invalid_json", None, None),
            ("invalid_value", "type", "evt-1"),
            ("invalid_value", "audio", None),
            ("input_audio_buffer_commit_empty", None, None),
            ("unknown_parameter", "session.voice", None),
            ("invalid_event", None, None),
        ]
        connection.session.update(session={"type": "transcription", "audio": {"input": {"turn_detection": None}}})
        for piece in chunks(encode_pcm24(speech[: 6 * 16000]), 48000):
            connection.input_audio_buffer.append(audio=piece)
        connection.input_audio_buffer.commit()
        (done,) = of_type(received(connection, lambda events: of_type(events, COMPLETED)), COMPLETED)
    assert "dashwood" in done["transcript"].lower()  # the session still works after them


def raw_socket(service: Any, **options: Any) -> Any:
    return ws_connect(f"{service.url.replace('http', 'ws')}/v1/realtime", open_timeout=30, **options)


def closed_with(socket: Any) -> tuple[list[dict[str, Any]], int | None]:
    events = []
    try:
        while True:
            events.append(json.loads(socket.recv(timeout=60)))
    except ConnectionClosed as closed:
        return events, closed.rcvd.code if closed.rcvd else None


def test_a_wrong_key_is_refused_and_a_browser_sends_its_key_as_a_subprotocol(live: Any) -> None:
    with raw_socket(live, additional_headers={"Authorization": "Bearer wrong"}) as socket:
        events, code = closed_with(socket)
    assert code == 3000 and events[0]["type"] == "error" and events[0]["error"]["code"] == "invalid_api_key"
    with raw_socket(live, subprotocols=["realtime", f"openai-insecure-api-key.{KEY}"]) as socket:
        assert socket.subprotocol == "realtime"
        created = json.loads(socket.recv(timeout=60))
    assert created["type"] == "session.created"


def test_sessions_past_the_limit_are_refused_and_an_idle_one_is_closed(tmp_path: Any) -> None:
    service = start_asr(
        outbox_dir=tmp_path / "outbox", realtime_sessions=1, realtime_idle_seconds=2, realtime_max_session_seconds=60
    )
    try:
        with raw_socket(service) as first:
            assert json.loads(first.recv(timeout=60))["type"] == "session.created"
            with raw_socket(service) as second:
                events, code = closed_with(second)
            assert code == 1013 and events[0]["error"]["code"] == "session_limit", events
            events, code = closed_with(first)  # then nothing comes from the first client for 2 s
        assert code == 1000 and events[-1]["error"]["code"] == "idle_timeout", events
    finally:
        service.stop()


def test_a_finished_session_waits_in_the_outbox_as_one_transcript_with_its_audio(
    tmp_path: Any, speech: np.ndarray
) -> None:
    """The Registry is down (nothing listens at its address): the session's transcript and audio wait in the outbox,
    its segments timed from the session's start. The session ends before its last turn is transcribed: the turn is
    still decoded and stored. With keep_audio=false, the transcript is stored without its audio."""
    outbox = tmp_path / "outbox"
    service = start_asr(outbox_dir=outbox, spool_dir=tmp_path / "spool", registry_url="http://127.0.0.1:9")
    try:
        lead = np.zeros(32000, np.float32)  # 2 s of silence before the speech
        jobs = []
        for query in ({}, {"keep_audio": "false"}):
            with client(service).realtime.connect(extra_query=query) as connection:
                created = connection.recv()
                jobs.append(created.session.model_extra["dhg_job_id"])
                connection.session.update(
                    session={"type": "transcription", "audio": {"input": {"turn_detection": None}}}
                )
                for piece in chunks(encode_pcm24(np.concatenate([lead, speech[: 6 * 16000]])), 48000):
                    connection.input_audio_buffer.append(audio=piece)
                connection.input_audio_buffer.commit()  # and gone before its transcript comes
        entries = [outbox / f"{job}.json" for job in jobs]
        deadline = time.monotonic() + 120
        while not all(entry.exists() for entry in entries):
            assert time.monotonic() < deadline, list(outbox.iterdir())
            time.sleep(0.1)
    finally:
        service.stop()
    stored = json.loads(entries[0].read_text())
    assert stored["job_id"] == jobs[0] and "dashwood" in stored["text"].lower()
    assert stored["segments"][0]["start"] >= 1.5  # on the session's timeline: the speech began at 2 s
    assert stored["duration_seconds"] == pytest.approx(8.0, abs=0.1)
    with av.open(str(outbox / f"{jobs[0]}.ogg")) as container:
        assert container.streams.audio[0].codec_context.name == "opus"
        assert container.duration / 1e6 == pytest.approx(8.0, abs=0.2)
    assert not (outbox / f"{jobs[1]}.ogg").exists() and "dashwood" in json.loads(entries[1].read_text())["text"].lower()
    assert not list((tmp_path / "spool").glob("live-*"))  # the raw audio of both is gone from the spool


def test_audio_sent_faster_than_it_is_transcribed_is_refused_past_the_buffer_not_queued(
    tmp_path: Any, speech: np.ndarray
) -> None:
    """Past `realtime_max_buffer_seconds` of audio held and not yet transcribed (a turn being spoken, or turns waiting
    for their last decode), an append is refused with an error and the session goes on; so is audio past the
    session's whole length."""
    service = start_asr(outbox_dir=tmp_path / "outbox", realtime_max_buffer_seconds=4, realtime_max_session_seconds=60)
    try:
        with client(service).realtime.connect() as connection:
            connection.recv()
            connection.session.update(session={"type": "transcription", "audio": {"input": {"turn_detection": None}}})
            pieces = list(chunks(encode_pcm24(speech[: 5 * 16000]), 48000))
            for piece in pieces:  # 5 s into a buffer of 4
                connection.input_audio_buffer.append(audio=piece)
            connection.input_audio_buffer.commit()
            events = received(connection, lambda events: of_type(events, COMPLETED))
            refused = [e["error"] for e in of_type(events, "error")]
            assert refused and all(e["code"] == "input_audio_buffer_full" for e in refused), refused
            assert len(refused) == len(pieces) - 40  # 40 pieces of 0.1 s were taken
            (done,) = of_type(events, COMPLETED)
            assert done["usage"]["seconds"] == pytest.approx(4.0, abs=0.05)
            for _ in range(19):  # 3 s at a time, cleared: the 19th would take the session past its 60 s
                connection.input_audio_buffer.append(audio=base64.b64encode(b"\0\0" * 24000 * 3).decode())
                connection.input_audio_buffer.clear()
            errors = received(connection, lambda events: of_type(events, "error"))
            assert of_type(errors, "error")[0]["error"]["code"] == "session_audio_limit"
    finally:
        service.stop()


def test_the_beta_client_gets_the_beta_shape(live: Any, speech: np.ndarray) -> None:
    """`client.beta.realtime.connect()` (the OpenAI-Beta: realtime=v1 header): `transcription_session.update` is
    answered by `transcription_session.updated`, a committed turn by `conversation.item.created`, in the beta's
    types."""
    from openai.types.beta.realtime.realtime_server_event import RealtimeServerEvent as BetaEvent

    beta_types = TypeAdapter(BetaEvent)
    beta = OpenAI(base_url=f"{live.url}/v1", api_key=KEY, websocket_base_url=f"{live.url.replace('http', 'ws')}/v1")
    with beta.beta.realtime.connect(model="whisper-1", extra_query={"intent": "transcription"}) as connection:
        first = json.loads(connection.recv_bytes())
        assert first["type"] == "transcription_session.created"
        connection.send(
            {
                "type": "transcription_session.update",
                "session": {"input_audio_format": "pcm16", "turn_detection": None},
            }
        )
        updated = beta_types.validate_json(connection.recv_bytes())
        assert updated.type == "transcription_session.updated" and updated.session.turn_detection is None
        for piece in chunks(encode_pcm24(speech[: 6 * 16000]), 48000):
            connection.send({"type": "input_audio_buffer.append", "audio": piece})
        connection.send({"type": "input_audio_buffer.commit"})
        events = []
        while not events or events[-1].type != "conversation.item.input_audio_transcription.completed":
            events.append(beta_types.validate_json(connection.recv_bytes()))
    kinds = [event.type for event in events]
    assert "conversation.item.created" in kinds and "conversation.item.added" not in kinds
    assert "dashwood" in events[-1].transcript.lower()


def test_a_client_that_stops_reading_is_disconnected_not_buffered_for(tmp_path: Any) -> None:
    """A client that sends and never reads (its receive window kept small): once the events waiting for it fill what
    the server buffers, the session is closed with 1008 and counted as a slow client."""
    import socket as sockets

    from prometheus_client import REGISTRY

    def slow() -> float:
        return REGISTRY.get_sample_value("dhg_asr_realtime_sessions_ended_total", {"reason": "slow_client"}) or 0.0

    service = start_asr(outbox_dir=tmp_path / "outbox", realtime_send_timeout_seconds=1)
    before = slow()
    try:
        host, port = service.url.removeprefix("http://").split(":")
        raw = sockets.socket()
        raw.setsockopt(sockets.SOL_SOCKET, sockets.SO_RCVBUF, 4096)
        raw.connect((host, int(port)))
        with ws_connect(f"ws://{host}:{port}/v1/realtime", sock=raw, open_timeout=30, compression=None) as socket:
            bad = json.dumps({"type": "x" * 100})  # each answered by an error of about 400 bytes
            try:
                for _ in range(40_000):
                    socket.send(bad)
            except ConnectionClosed:
                pass  # closed while still sending: what this test expects
            _, code = closed_with(socket)
        assert code == 1008
        assert slow() == before + 1
    finally:
        service.stop()
