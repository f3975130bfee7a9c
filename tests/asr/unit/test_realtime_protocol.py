"""Every event the live session sends is one of the `openai` package's Realtime server events, validated strictly
(its client parses leniently: a malformed session would come out as a conversation session, not fail), and the
session updates its clients send are read as OpenAI reads them."""

from __future__ import annotations

from typing import Any

import pytest
from openai.types.realtime import RealtimeServerEvent, RealtimeTranscriptionSessionCreateRequest
from openai.types.realtime.realtime_conversation_item_user_message import RealtimeConversationItemUserMessage
from pydantic import TypeAdapter

from asr.realtime import protocol
from asr.realtime.formats import AudioFormat
from asr.realtime.protocol import Config, Identity, ProtocolError
from asr.realtime.turns import ServerVad

GA = TypeAdapter(RealtimeServerEvent)
IDENTITY = Identity("sess_1", 1_900_000_000, "tiny.en")


def strict(event: dict[str, Any]) -> Any:
    return GA.validate_python(event, strict=False)


@pytest.mark.parametrize(
    "config",
    [
        Config(),
        Config(format=AudioFormat("audio/pcm", 16000)),
        Config(format=AudioFormat("audio/pcmu", 8000), turn_detection=None, logprobs=True, language="en"),
        Config(format=AudioFormat("audio/pcma", 8000), prompt="Dashwood", turn_detection=ServerVad(0.6, 200, 800)),
    ],
    ids=["defaults", "pcm-16k", "pcmu-manual-logprobs", "pcma-vad"],
)
def test_the_session_events_are_transcription_sessions_to_the_openai_types(config: Config) -> None:
    for kind in ("created", "updated"):
        event = strict(protocol.session_event(kind, config, IDENTITY, beta=False))
        assert event.type == f"session.{kind}"
        assert isinstance(event.session, RealtimeTranscriptionSessionCreateRequest)
        assert event.session.audio.input.format.type == config.format.type
        assert event.session.audio.input.transcription.model == "tiny.en"
        assert (event.session.audio.input.turn_detection is None) == (config.turn_detection is None)
        assert event.session.model_extra["id"] == "sess_1"
        if config.format.rate == 16000:  # the extension's rate, under a name of its own
            assert event.session.audio.input.format.model_extra == {"dhg_rate": 16000}


def test_every_other_event_is_valid_to_the_openai_types() -> None:
    events = [
        protocol.speech_started("item_1", 120),
        protocol.speech_stopped("item_1", 2400),
        protocol.committed("item_1", None),
        protocol.committed("item_2", "item_1"),
        protocol.cleared(),
        protocol.item_event("added", "item_1", None),
        protocol.item_event("done", "item_1", None),
        protocol.delta("item_1", "Hello"),
        protocol.completed("item_1", "Hello there.", 2.28, None),
        protocol.completed("item_1", "Hi", 1.0, [{"token": "Hi", "logprob": -0.1, "bytes": [72, 105]}]),
        protocol.failed("item_1", "the model failed"),
        protocol.error(ProtocolError("invalid_json", "The event is not valid JSON.", event_id="e1")),
        protocol.server_error("every decoder is busy", "queue-full"),
    ]
    for event in events:
        parsed = strict(event)
        assert type(parsed).__name__ != "ConversationCreatedEvent" and parsed.type == event["type"]
    added = strict(protocol.item_event("added", "item_1", None))
    assert isinstance(added.item, RealtimeConversationItemUserMessage)
    assert strict(protocol.completed("item_1", "Hi", 1.0, None)).usage.type == "duration"


def test_the_beta_shape_is_valid_to_the_packages_beta_types() -> None:
    from openai.types.beta.realtime.realtime_server_event import RealtimeServerEvent as BetaEvent

    beta = TypeAdapter(BetaEvent)
    updated = beta.validate_python(protocol.session_event("updated", Config(), IDENTITY, beta=True))
    assert type(updated).__name__ == "TranscriptionSessionUpdatedEvent"
    assert updated.session.input_audio_format == "pcm16"
    created = beta.validate_python(protocol.item_event("created", "item_1", None))
    assert type(created).__name__ == "ConversationItemCreatedEvent" and created.item.role == "user"


def update(session: dict[str, Any], config: Config | None = None) -> Config:
    return protocol.updated(config or Config(), {"type": "session.update", "session": session})


def test_a_session_update_sets_what_it_names_and_keeps_the_rest() -> None:
    config = update(
        {
            "type": "transcription",
            "audio": {
                "input": {
                    "format": {"type": "audio/pcm", "rate": 24000},
                    "transcription": {"model": "whisper-1", "language": "en", "prompt": "Dashwood"},
                    "turn_detection": {"type": "server_vad", "threshold": 0.6, "silence_duration_ms": 300},
                    "noise_reduction": {"type": "near_field"},
                }
            },
            "include": ["item.input_audio_transcription.logprobs"],
        }
    )
    assert (config.model, config.language, config.prompt, config.logprobs) == ("whisper-1", "en", "Dashwood", True)
    assert config.turn_detection == ServerVad(threshold=0.6, prefix_padding_ms=300, silence_duration_ms=300)
    manual = update({"type": "transcription", "audio": {"input": {"turn_detection": None}}}, config)
    assert manual.turn_detection is None and manual.model == "whisper-1" and manual.logprobs
    telephony = update({"type": "transcription", "audio": {"input": {"format": {"type": "audio/pcmu"}}}}, manual)
    assert telephony.format == AudioFormat("audio/pcmu", 8000)
    wide = update({"type": "transcription", "audio": {"input": {"format": {"type": "audio/pcm", "rate": 16000}}}})
    assert wide.format == AudioFormat("audio/pcm", 16000)  # an extension: 16 kHz PCM as well as OpenAI's 24 kHz


def test_the_beta_update_is_read_into_the_same_config() -> None:
    config = protocol.updated(
        Config(),
        {
            "type": "transcription_session.update",
            "session": {
                "input_audio_format": "g711_alaw",
                "input_audio_transcription": {"model": "gpt-4o-transcribe", "language": "en"},
                "turn_detection": None,
            },
        },
    )
    assert config == Config(
        format=AudioFormat("audio/pcma", 8000), model="gpt-4o-transcribe", language="en", turn_detection=None
    )


@pytest.mark.parametrize(
    ("session", "code", "param"),
    [
        ({"type": "realtime"}, "invalid_value", "session.type"),
        ({"type": "transcription", "voice": "alloy"}, "unknown_parameter", "session.voice"),
        (
            {"type": "transcription", "audio": {"input": {"format": {"type": "audio/pcm", "rate": 44100}}}},
            "invalid_value",
            "session.audio.input.format.rate",
        ),
        (
            {"type": "transcription", "audio": {"input": {"turn_detection": {"type": "server_vad", "threshold": 3}}}},
            "invalid_value",
            "session.audio.input.turn_detection.threshold",
        ),
        ({"type": "transcription", "include": ["everything"]}, "invalid_value", "session.include.0"),
    ],
)
def test_a_bad_session_update_is_refused_naming_the_parameter(session: dict[str, Any], code: str, param: str) -> None:
    with pytest.raises(ProtocolError) as refused:
        update(session)
    assert (refused.value.code, refused.value.param) == (code, param), refused.value.message
