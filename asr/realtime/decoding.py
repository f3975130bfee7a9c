"""How a live session's turns are decoded: again and again while spoken (deltas by local agreement, agreement.py),
once more when they end (the tail and `completed`), and kept for the session's transcript. A mixin of
`LiveSession` (session.py), which holds the state it reads."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import numpy as np

from asr import metrics
from asr.engines.base import SAMPLE_RATE, TEMPERATURE_FALLBACK, Engine, Options, Segment
from asr.errors import AsrError
from asr.realtime import protocol
from asr.realtime.agreement import Agreement, Heard
from asr.realtime.protocol import Config
from asr.transcribe import Result

log = logging.getLogger("asr.realtime")
MIN_COMMIT_MS = 100  # OpenAI's: a commit of less audio is refused
MIN_DECODE_SECONDS = 0.5  # a turn is first decoded once it holds this much audio
FIRST_INTERVAL = 0.2  # seconds of new audio between decodes until a turn's first words are agreed on
PRIORITY_FINAL = 2  # of a decode in the model's batcher (asr/batching.py)
PRIORITY_FIRST_WORDS = 1


@dataclass(frozen=True)
class Limits:
    max_event_bytes: int = 15 * 1024 * 1024
    max_buffer_seconds: float = 300.0
    interval: float = 0.7  # seconds of new audio between two decodes of the turn being spoken
    beam_size: int = 5  # of a turn's last decode (the ones while it is spoken are greedy)
    window_seconds: float = 20.0  # undecided audio past which a long turn's decodes start later


@dataclass
class Turn:
    """One item: a turn of speech (server VAD) or what the client committed."""

    item_id: str
    start_ms: int
    chunks: list[np.ndarray] = field(default_factory=list)
    samples: int = 0
    decoded_samples: int = 0  # the turn's length at its last decode
    agreement: Agreement = field(default_factory=Agreement)
    started: float = field(default_factory=time.monotonic)
    first_delta: float | None = None
    stopped: float | None = None  # when its end was known (speech stopped, or committed)
    previous_item_id: str | None = None
    finishing: bool = False  # its last decode has begun (a re-decode still in flight is then dropped)

    def add(self, samples: np.ndarray) -> None:
        if len(samples):
            self.chunks.append(samples)
            self.samples += len(samples)

    def audio(self) -> np.ndarray:
        if len(self.chunks) > 1:
            self.chunks = [np.concatenate(self.chunks)]
        return self.chunks[0] if self.chunks else np.zeros(0, np.float32)

    @property
    def seconds(self) -> float:
        return self.samples / SAMPLE_RATE


@dataclass(frozen=True)
class Finished:
    start: float
    end: float
    text: str
    segments: list[Segment]
    language: str


class Decoding:
    """The decoding half of a live session (its state is LiveSession's)."""

    id: str
    engine: Engine | None
    config: Config
    limits: Limits
    language: str | None
    batch_size: int
    processing_seconds: float
    finished: list[Finished]
    _turn: Turn | None
    _finals: deque[Turn]
    _wake: Any
    _heard: int
    emit: Callable[[dict[str, Any]], None]

    async def decode_forever(self) -> None:
        """Finish committed turns in order; between them, re-decode the turn being spoken as it grows. A re-decode
        runs beside this loop: a turn that ends while its re-decode is in flight is finished at once (its last decode
        goes ahead in the batcher), and the re-decode's result is dropped."""
        interim: asyncio.Task[None] | None = None
        try:
            while True:
                if self._finals:
                    await self._finish_turn(self._finals[0], send=True)
                    self._finals.popleft()
                    continue
                turn = self._turn
                # Often at first (two decodes must agree before a word is sent), then every `interval`.
                seconds = (
                    self.limits.interval
                    if turn is None or turn.first_delta
                    else min(FIRST_INTERVAL, self.limits.interval)
                )
                interval = int(seconds * SAMPLE_RATE)
                grown = turn is not None and turn.samples - turn.decoded_samples >= interval
                idle = interim is None or interim.done()
                if turn is not None and grown and idle and turn.seconds >= MIN_DECODE_SECONDS:
                    turn.decoded_samples = turn.samples
                    interim = asyncio.create_task(self._interim(turn))
                    interim.add_done_callback(lambda _: self._wake.set())
                    continue
                self._wake.clear()
                await self._wake.wait()
        finally:
            if interim is not None:
                interim.cancel()

    def _options(self, *, final: bool, first: bool) -> Options:
        return Options(
            language=self.language,
            prompt=self.config.prompt,
            temperature=TEMPERATURE_FALLBACK if final else (0.0,),
            beam_size=self.limits.beam_size if final else 1,
            batch_size=self.batch_size,
            token_logprobs=final and self.config.logprobs,
            # Every live decode encodes the turn's own audio (and a margin), not Whisper's whole 30 s: a turn's last
            # decode then takes half the time (bench/asr/live.py: completed p50 0.62 → 0.30 s alone), at a WER
            # within the target's points of the same audio as a file.
            trim=True,
            # Through the batcher, what someone waits on goes first: a turn's last decode (speech stopped → completed),
            # then its decodes until its first words, then the re-decodes of turns that already show words.
            priority=PRIORITY_FINAL if final else PRIORITY_FIRST_WORDS if first else 0,
            reseek=final,  # an interim decode that ends early costs no second decode: the next one hears the rest
        )

    async def _decode(self, turn: Turn, *, final: bool) -> tuple[list[Segment], str, float]:
        engine = self.engine
        assert engine is not None
        audio = turn.audio()
        offset = turn.agreement.offset
        piece = audio[int(offset * SAMPLE_RATE) :]
        options = self._options(final=final, first=turn.first_delta is None)

        def work() -> tuple[list[Segment], str]:
            transcription = engine.transcribe(piece, options)
            try:
                return list(transcription.segments), transcription.info.language
            finally:
                transcription.close()

        started = time.perf_counter()
        segments, language = await anyio.to_thread.run_sync(work)
        self.processing_seconds += time.perf_counter() - started
        return segments, language, len(audio) / SAMPLE_RATE

    async def _interim(self, turn: Turn) -> None:
        try:
            segments, _, seconds = await self._decode(turn, final=False)
        except Exception:  # the turn's last decode says what failed; until then, no delta
            log.exception("a live decode failed", extra={"session": self.id})
            return
        if turn.finishing:  # its last decode has begun: what it shows is final
            return
        delta = turn.agreement.update(Heard.of([(s.text, s.end) for s in segments]), seconds)
        if delta:
            self._delta(turn, delta)

    def _delta(self, turn: Turn, text: str) -> None:
        if turn.first_delta is None:
            turn.first_delta = time.monotonic()
            metrics.REALTIME_FIRST_DELTA.observe(turn.first_delta - turn.started)
        self.emit(protocol.delta(turn.item_id, text))

    async def _finish_turn(self, turn: Turn, *, send: bool) -> None:
        turn.finishing = True
        try:
            segments, language, seconds = await self._decode(turn, final=True)
        except Exception as error:
            log.exception("a live turn could not be transcribed", extra={"session": self.id})
            message = error.detail if isinstance(error, AsrError) else "the turn could not be transcribed"
            if send:
                self.emit(protocol.failed(turn.item_id, message))
            return
        agreement = turn.agreement
        tail = agreement.finish(Heard.of([(s.text, s.end) for s in segments]))
        if tail and send:
            self._delta(turn, tail)
        logprobs = None
        if self.config.logprobs:
            logprobs = [
                {"token": t.token, "logprob": t.logprob, "bytes": list(t.bytes)}
                for s in segments
                for t in s.tokens or ()
            ]
        if send:
            self.emit(protocol.completed(turn.item_id, agreement.text, seconds, logprobs))
            if turn.stopped is not None:
                metrics.REALTIME_COMPLETED.observe(time.monotonic() - turn.stopped)
        if self.language is None and self.engine is not None and self.engine.multilingual and seconds >= 1.0:
            self.language = language  # held from the first turn, as a file's is from its first speech
        self._store(turn, segments, language, seconds)

    def _store(self, turn: Turn, segments: list[Segment], language: str, seconds: float) -> None:
        start = turn.start_ms / 1000
        text = turn.agreement.text.strip()
        if not text:
            return
        own = " ".join(s.text.strip() for s in segments)
        shift = start + turn.agreement.offset
        if turn.agreement.offset == 0 and own.split() == text.split():
            stored = [s.shifted(shift) for s in segments]
        else:  # what the client saw differs from the last decode: one segment of the turn, as it was shown
            stored = [Segment(start=start, end=start + seconds, text=" " + text)]
        self.finished.append(Finished(start, start + seconds, text, stored, language))

    async def finish(self) -> Result | None:
        """Decode what the session still holds (a turn being spoken, committed turns not yet finished; the client
        may be gone, so nothing is sent) and give the session's result, None when nothing was said."""
        if self._turn is not None and self._turn.samples * 1000 >= MIN_COMMIT_MS * SAMPLE_RATE:
            self._finals.append(self._turn)
            self._turn = None
        while self._finals:
            await self._finish_turn(self._finals.popleft(), send=False)
        if not self.finished or self.engine is None:
            return None
        engine = self.engine
        segments = [segment for turn in self.finished for segment in turn.segments]
        return Result(
            segments,
            self.language or self.finished[0].language,
            self._heard / SAMPLE_RATE,
            self.processing_seconds,
            engine.name,
            engine.model,
            engine.device,
            {"live_turns": float(len(self.finished))},
        )
