"""One live transcription session: the client's events in, the server's events out, its turns decoded.

The route (asr/routes/realtime.py) feeds `handle` each text frame and sends what `outbox` yields; one task per
session (`decode_forever`, decoding.py) re-decodes the turn being spoken every `interval` and finishes committed
turns in order, each through the model's batcher (the windows of every live session and file request share
batches). When the session ends, `finish` decodes what was still open and gives the whole session as one result,
its segments timed from the session's start."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any

import anyio
import numpy as np

from asr import metrics
from asr.engines.base import SAMPLE_RATE, Engine
from asr.errors import AsrError
from asr.realtime import protocol
from asr.realtime.decoding import MIN_COMMIT_MS, Decoding, Finished, Limits, Turn
from asr.realtime.formats import Decoder
from asr.realtime.protocol import Config, Identity, ProtocolError
from asr.realtime.recording import Recording
from asr.realtime.turns import Turns

__all__ = ["Limits", "LiveSession"]
CLIENT_EVENTS = (
    "session.update",
    "transcription_session.update",
    "input_audio_buffer.append",
    "input_audio_buffer.commit",
    "input_audio_buffer.clear",
)


class LiveSession(Decoding):
    """`engine_for(model)` loads a model (blocking; called in a thread) and says what it is named here."""

    def __init__(
        self,
        engine_for: Callable[[str | None], Engine],
        *,
        limits: Limits,
        beta: bool = False,
        max_seconds: float = 1800.0,
        batch_size: int = 1,
        queue_events: int = 1024,
        recording: Callable[[uuid.UUID], Recording | None] = lambda _: None,
    ) -> None:
        self.engine_for = engine_for
        self.limits = limits
        self.beta = beta
        self.batch_size = batch_size
        self.id = protocol.new_id("sess")
        self.job_id = uuid.uuid4()
        self.recording = recording(self.job_id)  # the session's audio, kept to be stored with its transcript
        self.config = Config()
        self.engine: Engine | None = None
        self.max_seconds = max_seconds
        self.expires_at = protocol.expires_at(max_seconds)
        self.outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=queue_events)
        self.overflowed = False
        self._decoder = Decoder(self.config.format)
        self._turns = Turns(self.config.turn_detection) if self.config.turn_detection else None
        self._recent: list[np.ndarray] = []  # audio since `_recent_start` (samples), outside a turn
        self._recent_start = 0
        self._heard = 0  # samples of the session so far
        self._turn: Turn | None = None
        self._finals: deque[Turn] = deque()
        self._wake = asyncio.Event()
        self._last_item: str | None = None
        self.finished: list[Finished] = []
        self.language: str | None = None
        self.processing_seconds = 0.0

    # Events out ---------------------------------------------------------------------------------------------------

    def emit(self, event: dict[str, Any]) -> None:
        """Queue an event for the client; a client that stops reading fills the queue and is disconnected."""
        try:
            self.outbox.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed = True

    @property
    def identity(self) -> Identity:
        return Identity(self.id, self.expires_at, self.engine.model if self.engine else "", str(self.job_id))

    async def start(self) -> None:
        self.engine = await anyio.to_thread.run_sync(self.engine_for, None)
        self.emit(protocol.session_event("created", self.config, self.identity, beta=self.beta))

    # Events in ----------------------------------------------------------------------------------------------------

    async def handle(self, text: str) -> None:
        """One client event; what cannot be taken is answered with an `error` event and changes nothing."""
        event_id = None
        try:
            if len(text.encode()) > self.limits.max_event_bytes:
                raise ProtocolError(
                    "event_too_large", f"An event is at most {self.limits.max_event_bytes} bytes; this one is larger."
                )
            try:
                event = json.loads(text)
            except json.JSONDecodeError as error:
                raise ProtocolError("invalid_json", f"The event is not valid JSON: {error.msg}.") from None
            if not isinstance(event, dict) or not isinstance(event.get("type"), str):
                raise ProtocolError("invalid_event", "An event is a JSON object with a 'type'.", param="type")
            event_id = event.get("event_id") if isinstance(event.get("event_id"), str) else None
            await self._dispatch(event)
        except ProtocolError as problem:
            problem.event_id = problem.event_id or event_id
            self.emit(protocol.error(problem))

    async def _dispatch(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        if kind in ("session.update", "transcription_session.update"):
            await self._update(event)
        elif kind == "input_audio_buffer.append":
            self._append(event)
        elif kind == "input_audio_buffer.commit":
            self._commit_manually()
        elif kind == "input_audio_buffer.clear":
            self._clear()
        else:
            supported = ", ".join(f"'{name}'" for name in CLIENT_EVENTS)
            raise ProtocolError(
                "invalid_value",
                f"Invalid value: '{kind[:100]}'. A transcription session takes {supported}.",
                param="type",
            )

    async def _update(self, event: dict[str, Any]) -> None:
        config = protocol.updated(self.config, event)
        engine = self.engine
        if config.model != self.config.model or engine is None:
            try:
                engine = await anyio.to_thread.run_sync(self.engine_for, config.model)
            except AsrError as error:
                raise ProtocolError(
                    "invalid_value", error.detail, param="session.audio.input.transcription.model"
                ) from None
        if not engine.multilingual and config.language not in (None, "en"):
            raise ProtocolError(
                "invalid_value",
                f"model '{engine.model}' is English-only: leave language out or give 'en'",
                param="session.audio.input.transcription.language",
            )
        if config.format != self.config.format:
            self._decoder = Decoder(config.format)
        if config.turn_detection != self.config.turn_detection:
            self._turns = Turns(config.turn_detection) if config.turn_detection else None
            if self._turns is None and self._turn is None:
                self._recent, self._recent_start = [], self._heard
        self.config, self.engine = config, engine
        self.language = config.language
        self.emit(protocol.session_event("updated", config, self.identity, beta=self.beta))

    def _append(self, event: dict[str, Any]) -> None:
        data = event.get("audio")
        if not isinstance(data, str):
            raise ProtocolError("missing_required_parameter", "Missing required parameter: 'audio'.", param="audio")
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise ProtocolError("invalid_value", "'audio' is not valid base64.", param="audio") from None
        # Held and not yet transcribed: the turn being spoken and the committed turns waiting for their last decode
        # (a client sending faster than the model decodes fills this, and waits, rather than queueing without end).
        pending = sum(turn.seconds for turn in (self._turn, *self._finals) if turn is not None)
        seconds = len(raw) / self.config.format.bytes_per_second
        if pending + seconds > self.limits.max_buffer_seconds:
            raise ProtocolError(
                "input_audio_buffer_full",
                f"At most {self.limits.max_buffer_seconds:.0f} s of audio wait here to be transcribed; this append "
                "was not taken: commit or clear, or send more slowly.",
                param="audio",
            )
        if (self._heard / SAMPLE_RATE) + seconds > self.max_seconds:
            raise ProtocolError(
                "session_audio_limit",
                f"A session takes at most {self.max_seconds:.0f} s of audio (its longest life, in real time).",
                param="audio",
            )
        samples = self._decoder.decode(raw)
        if self._turns is None:
            self._manual(samples)
        else:
            self._voiced(samples)
        self._heard += len(samples)
        if self.recording is not None:
            self.recording.add(samples)
        metrics.REALTIME_AUDIO_SECONDS.inc(len(samples) / SAMPLE_RATE)
        self._wake.set()

    def _manual(self, samples: np.ndarray) -> None:
        if self._turn is None:
            self._turn = Turn(protocol.new_id("item"), self._heard * 1000 // SAMPLE_RATE)
        self._turn.add(samples)

    def _voiced(self, samples: np.ndarray) -> None:
        assert self._turns is not None
        start = self._heard
        self._recent.append(samples)
        for change in self._turns.feed(samples):
            at = change.ms * SAMPLE_RATE // 1000
            if change.started and self._turn is None:
                turn = Turn(protocol.new_id("item"), change.ms)
                turn.add(self._take(at))
                self._turn = turn
                self.emit(protocol.speech_started(turn.item_id, change.ms))
            elif not change.started and self._turn is not None:
                self._turn.add(self._take(at, keep=False))
                self.emit(protocol.speech_stopped(self._turn.item_id, change.ms))
                self._commit(self._turn)
        if self._turn is not None:
            self._turn.add(self._take(start + len(samples), keep=False))
        else:  # outside a turn, only the padding a next turn may start with is kept
            keep = (self.config.turn_detection.prefix_padding_ms if self.config.turn_detection else 0) + 1000
            self._trim_recent(start + len(samples) - keep * SAMPLE_RATE // 1000)

    def _take(self, until: int, *, keep: bool = True) -> np.ndarray:
        """The recent audio up to sample `until` of the session (from where a turn starts: `keep` drops what comes
        before it); what follows stays recent."""
        audio = np.concatenate(self._recent) if self._recent else np.zeros(0, np.float32)
        cut = max(0, min(len(audio), until - self._recent_start))
        if keep:  # a turn starting at `until`: the audio before it is dropped, the rest is the turn's
            self._recent, self._recent_start = [], self._recent_start + len(audio)
            return audio[cut:]
        self._recent, self._recent_start = [audio[cut:]], self._recent_start + cut
        return audio[:cut]

    def _trim_recent(self, start: int) -> None:
        audio = np.concatenate(self._recent) if self._recent else np.zeros(0, np.float32)
        drop = max(0, min(len(audio), start - self._recent_start))
        self._recent, self._recent_start = [audio[drop:]], self._recent_start + drop

    def _commit(self, turn: Turn) -> None:
        turn.stopped = time.monotonic()
        turn.previous_item_id = self._last_item
        self._last_item = turn.item_id
        self.emit(protocol.committed(turn.item_id, turn.previous_item_id))
        if self.beta:
            self.emit(protocol.item_event("created", turn.item_id, turn.previous_item_id))
        else:
            self.emit(protocol.item_event("added", turn.item_id, turn.previous_item_id))
            self.emit(protocol.item_event("done", turn.item_id, turn.previous_item_id))
        self._finals.append(turn)
        self._turn = None
        self._wake.set()

    def _commit_manually(self) -> None:
        turn = self._turn
        if turn is None or turn.samples * 1000 < MIN_COMMIT_MS * SAMPLE_RATE:
            have = 0.0 if turn is None else turn.samples * 1000 / SAMPLE_RATE
            raise ProtocolError(
                "input_audio_buffer_commit_empty",
                f"Error committing input audio buffer: buffer too small. Expected at least {MIN_COMMIT_MS}ms of "
                f"audio, but buffer only has {have:.2f}ms of audio.",
            )
        if self._turns is not None and self._turns.speaking:
            self.emit(protocol.speech_stopped(turn.item_id, self._heard * 1000 // SAMPLE_RATE))
            self._turns = Turns(self._turns.settings)  # the next turn starts afresh
        self._commit(turn)

    def _clear(self) -> None:
        self._turn = None
        self._recent, self._recent_start = [], self._heard
        if self._turns is not None:
            self._turns = Turns(self._turns.settings)
        self.emit(protocol.cleared())

    # Decoding -----------------------------------------------------------------------------------------------------
