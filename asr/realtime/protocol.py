"""The Realtime API's events for transcription sessions, as OpenAI's GA reference and the `openai` package's types
(`openai.types.realtime`) define them; the tests check every event sent against those types, strictly.

In: `session.update` (a `transcription` session: `audio.input.format`, `.transcription`, `.turn_detection`,
`.noise_reduction`; `include`), the beta's `transcription_session.update` (flat `input_audio_*` fields), and
`input_audio_buffer.append` / `.commit` / `.clear`. Out: builders for every event the session sends."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from asr.realtime.formats import PCM_RATES, AudioFormat
from asr.realtime.turns import ServerVad

LOGPROBS = "item.input_audio_transcription.logprobs"
SESSION_OBJECT = "realtime.transcription_session"


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:24]}"


class ProtocolError(Exception):
    """A client event that cannot be taken: answered with an `error` event; the session goes on."""

    def __init__(self, code: str, message: str, *, param: str | None = None, event_id: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.param, self.event_id = code, message, param, event_id


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FormatIn(_In):
    type: Literal["audio/pcm", "audio/pcmu", "audio/pcma"] | None = None
    rate: int | None = None


class TranscriptionIn(_In):
    model: str | None = None
    language: str | None = None
    prompt: str | None = None
    delay: str | None = None  # OpenAI's gpt-realtime-whisper only: taken and ignored here
    keywords: list[str] | None = None
    languages: list[str] | None = None


class TurnDetectionIn(_In):
    type: Literal["server_vad", "semantic_vad"]
    threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    prefix_padding_ms: int | None = Field(default=None, ge=0, le=10_000)
    silence_duration_ms: int | None = Field(default=None, ge=0, le=10_000)
    idle_timeout_ms: int | None = Field(default=None, ge=1_000, le=3_600_000)
    create_response: bool | None = None  # a conversation's: no responses in a transcription session
    interrupt_response: bool | None = None
    eagerness: Literal["low", "medium", "high", "auto"] | None = None


class NoiseReductionIn(_In):
    type: Literal["near_field", "far_field"] | None = None


class AudioInputIn(_In):
    format: FormatIn | None = None
    transcription: TranscriptionIn | None = None
    turn_detection: TurnDetectionIn | None = None
    noise_reduction: NoiseReductionIn | None = None


class AudioIn(_In):
    input: AudioInputIn | None = None


class SessionIn(_In):
    type: Literal["transcription"]
    audio: AudioIn | None = None
    include: list[Literal["item.input_audio_transcription.logprobs"]] | None = None


class BetaTranscriptionIn(_In):
    model: str | None = None
    language: str | None = None
    prompt: str | None = None


class BetaSessionIn(_In):
    input_audio_format: Literal["pcm16", "g711_ulaw", "g711_alaw"] | None = None
    input_audio_transcription: BetaTranscriptionIn | None = None
    turn_detection: TurnDetectionIn | None = None
    input_audio_noise_reduction: NoiseReductionIn | None = None
    include: list[Literal["item.input_audio_transcription.logprobs"]] | None = None
    modalities: list[Literal["text", "audio"]] | None = None
    client_secret: dict[str, Any] | None = None


BETA_FORMATS = {
    "pcm16": AudioFormat(),
    "g711_ulaw": AudioFormat("audio/pcmu", 8000),
    "g711_alaw": AudioFormat("audio/pcma", 8000),
}
BETA_NAMES = {value: key for key, value in BETA_FORMATS.items()}
BETA_MODELS = ("gpt-4o-transcribe", "gpt-4o-mini-transcribe", "whisper-1")


@dataclass(frozen=True)
class Config:
    """What a session does now: its audio format, model, language, prompt, turn detection (None: the client
    commits) and whether completed transcripts carry log-probabilities."""

    format: AudioFormat = field(default_factory=AudioFormat)
    model: str | None = None  # None: the service's default model
    language: str | None = None
    prompt: str | None = None
    turn_detection: ServerVad | None = field(default_factory=ServerVad)
    logprobs: bool = False


def _turn_detection(given: TurnDetectionIn | None) -> ServerVad | None:
    if given is None:
        return None
    defaults = ServerVad()
    return ServerVad(
        threshold=defaults.threshold if given.threshold is None else given.threshold,
        prefix_padding_ms=defaults.prefix_padding_ms if given.prefix_padding_ms is None else given.prefix_padding_ms,
        silence_duration_ms=defaults.silence_duration_ms
        if given.silence_duration_ms is None
        else given.silence_duration_ms,
        idle_timeout_ms=given.idle_timeout_ms,
    )


def _format(given: FormatIn, current: AudioFormat) -> AudioFormat:
    kind = given.type or current.type
    if kind != "audio/pcm":
        if given.rate is not None and given.rate != 8000:
            raise ProtocolError("invalid_value", f"{kind} is 8 kHz audio", param="session.audio.input.format.rate")
        return AudioFormat(kind, 8000)
    rate = given.rate if given.rate is not None else (current.rate if current.type == "audio/pcm" else 24000)
    if rate not in PCM_RATES:
        raise ProtocolError(
            "invalid_value",
            f"audio/pcm is taken at 24000 Hz (OpenAI's rate) or 16000 Hz, not {rate}",
            param="session.audio.input.format.rate",
        )
    return AudioFormat("audio/pcm", rate)


def _problem(error: ValidationError, prefix: str) -> ProtocolError:
    first = error.errors()[0]
    param = ".".join([prefix, *(str(part) for part in first["loc"])])
    code = "unknown_parameter" if first["type"] == "extra_forbidden" else "invalid_value"
    message = f"Unknown parameter: '{param}'." if code == "unknown_parameter" else f"{param}: {first['msg']}"
    return ProtocolError(code, message, param=param)


def updated(config: Config, event: dict[str, Any]) -> Config:
    """The session's config after a `session.update` (GA) or `transcription_session.update` (beta) event; what it
    leaves out stays as it was. A ProtocolError changes nothing."""
    session = event.get("session")
    if not isinstance(session, dict):
        raise ProtocolError("missing_required_parameter", "Missing required parameter: 'session'.", param="session")
    if event["type"] == "transcription_session.update":
        return _beta_updated(config, session)
    if session.get("type") != "transcription":
        raise ProtocolError(
            "invalid_value",
            "Only transcription sessions are served here: give session.type 'transcription'.",
            param="session.type",
        )
    try:
        given = SessionIn.model_validate(session)
    except ValidationError as error:
        raise _problem(error, "session") from None
    if given.include is not None or "include" in given.model_fields_set:
        config = replace(config, logprobs=LOGPROBS in (given.include or []))
    audio_input = given.audio.input if given.audio is not None else None
    if audio_input is None:
        return config
    chosen = audio_input.model_fields_set
    if audio_input.format is not None:
        config = replace(config, format=_format(audio_input.format, config.format))
    if "transcription" in chosen:
        heard = audio_input.transcription or TranscriptionIn()
        config = replace(config, model=heard.model, language=heard.language or None, prompt=heard.prompt or None)
    if "turn_detection" in chosen:
        config = replace(config, turn_detection=_turn_detection(audio_input.turn_detection))
    return config


def _beta_updated(config: Config, session: dict[str, Any]) -> Config:
    try:
        given = BetaSessionIn.model_validate(session)
    except ValidationError as error:
        raise _problem(error, "session") from None
    chosen = given.model_fields_set
    if given.input_audio_format is not None:
        config = replace(config, format=BETA_FORMATS[given.input_audio_format])
    if "input_audio_transcription" in chosen:
        heard = given.input_audio_transcription or BetaTranscriptionIn()
        config = replace(config, model=heard.model, language=heard.language or None, prompt=heard.prompt or None)
    if "turn_detection" in chosen:
        config = replace(config, turn_detection=_turn_detection(given.turn_detection))
    if "include" in chosen:
        config = replace(config, logprobs=LOGPROBS in (given.include or []))
    return config


# Out ------------------------------------------------------------------------------------------------------------


def _event(kind: str, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "event_id": new_id("event"), **fields}


def _turn_detection_out(vad: ServerVad | None) -> dict[str, Any] | None:
    if vad is None:
        return None
    out: dict[str, Any] = {
        "type": "server_vad",
        "threshold": vad.threshold,
        "prefix_padding_ms": vad.prefix_padding_ms,
        "silence_duration_ms": vad.silence_duration_ms,
    }
    if vad.idle_timeout_ms is not None:
        out["idle_timeout_ms"] = vad.idle_timeout_ms
    return out


@dataclass(frozen=True)
class Identity:
    """What names a session to its client: its id, when it expires (Unix seconds), the model that transcribes, and
    (an extension, `dhg_job_id`) the job id its transcript is stored under in the Registry when it ends."""

    id: str
    expires_at: int
    model: str
    job_id: str | None = None


def session_object(config: Config, identity: Identity) -> dict[str, Any]:
    """The GA session (`RealtimeTranscriptionSessionCreateRequest`, with OpenAI's `id`, `object` and
    `expires_at`): what the session does now, the model being the one that transcribes."""
    audio_format: dict[str, Any] = {"type": config.format.type}
    if config.format.type == "audio/pcm" and config.format.rate == 24000:
        audio_format["rate"] = config.format.rate
    elif config.format.type == "audio/pcm":  # OpenAI's types know 24000 only: the extension's rate has its own name
        audio_format["dhg_rate"] = config.format.rate
    return {
        "type": "transcription",
        "object": SESSION_OBJECT,
        "id": identity.id,
        "expires_at": identity.expires_at,
        "audio": {
            "input": {
                "format": audio_format,
                "transcription": {"model": identity.model, "language": config.language, "prompt": config.prompt},
                "noise_reduction": None,
                "turn_detection": _turn_detection_out(config.turn_detection),
            }
        },
        "include": [LOGPROBS] if config.logprobs else None,
        "dhg_job_id": identity.job_id,
    }


def beta_session_object(config: Config, identity: Identity) -> dict[str, Any]:
    """The beta's session (`TranscriptionSession`): its model is one of OpenAI's three names there, so the one the
    client gave (or whisper-1, which means the default model here); no client secret is issued (an empty value)."""
    model = config.model if config.model in BETA_MODELS else "whisper-1"
    return {
        "id": identity.id,
        "object": SESSION_OBJECT,
        "expires_at": identity.expires_at,
        "input_audio_format": BETA_NAMES.get(config.format, "pcm16"),
        "input_audio_transcription": {"model": model, "language": config.language, "prompt": config.prompt},
        "turn_detection": _turn_detection_out(config.turn_detection),
        "input_audio_noise_reduction": None,
        "include": [LOGPROBS] if config.logprobs else None,
        "modalities": ["text"],
        "client_secret": {"expires_at": identity.expires_at, "value": ""},
        "dhg_job_id": identity.job_id,
    }


Event = dict[str, Any]


def session_event(kind: Literal["created", "updated"], config: Config, identity: Identity, *, beta: bool) -> Event:
    if beta:
        return _event(f"transcription_session.{kind}", session=beta_session_object(config, identity))
    return _event(f"session.{kind}", session=session_object(config, identity))


def error(problem: ProtocolError) -> dict[str, Any]:
    return _event(
        "error",
        error={
            "type": "invalid_request_error",
            "code": problem.code,
            "message": problem.message,
            "param": problem.param,
            "event_id": problem.event_id,
        },
    )


def server_error(message: str, code: str) -> dict[str, Any]:
    return _event("error", error={"type": "server_error", "code": code, "message": message, "param": None})


def speech_started(item_id: str, ms: int) -> dict[str, Any]:
    return _event("input_audio_buffer.speech_started", audio_start_ms=ms, item_id=item_id)


def speech_stopped(item_id: str, ms: int) -> dict[str, Any]:
    return _event("input_audio_buffer.speech_stopped", audio_end_ms=ms, item_id=item_id)


def timeout_triggered(item_id: str, start_ms: int, end_ms: int) -> dict[str, Any]:
    return _event("input_audio_buffer.timeout_triggered", audio_start_ms=start_ms, audio_end_ms=end_ms, item_id=item_id)


def committed(item_id: str, previous_item_id: str | None) -> dict[str, Any]:
    return _event("input_audio_buffer.committed", item_id=item_id, previous_item_id=previous_item_id)


def cleared() -> dict[str, Any]:
    return _event("input_audio_buffer.cleared")


def _item(item_id: str, status: str, transcript: str | None) -> dict[str, Any]:
    return {
        "id": item_id,
        "object": "realtime.item",
        "type": "message",
        "status": status,
        "role": "user",
        "content": [{"type": "input_audio", "transcript": transcript}],
    }


def item_event(
    kind: Literal["added", "done", "created"], item_id: str, previous_item_id: str | None, transcript: str | None = None
) -> dict[str, Any]:
    status = "in_progress" if kind == "added" else "completed"
    return _event(
        f"conversation.item.{kind}", item=_item(item_id, status, transcript), previous_item_id=previous_item_id
    )


def delta(item_id: str, text: str) -> dict[str, Any]:
    return _event("conversation.item.input_audio_transcription.delta", item_id=item_id, content_index=0, delta=text)


def completed(item_id: str, transcript: str, seconds: float, logprobs: list[dict[str, Any]] | None) -> Event:
    out = _event(
        "conversation.item.input_audio_transcription.completed",
        item_id=item_id,
        content_index=0,
        transcript=transcript,
        usage={"type": "duration", "seconds": round(seconds, 3)},
    )
    if logprobs is not None:
        out["logprobs"] = logprobs
    return out


def failed(item_id: str, message: str) -> dict[str, Any]:
    return _event(
        "conversation.item.input_audio_transcription.failed",
        item_id=item_id,
        content_index=0,
        error={"type": "server_error", "code": "transcription_failed", "message": message, "param": None},
    )


def expires_at(max_seconds: float) -> int:
    return int(time.time() + max_seconds)
