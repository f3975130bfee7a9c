"""One transcription from a source to a result: decode in chunks, run the engine, shift timestamps,
report progress, count metrics. The HTTP service and the worker both call `run`."""

from __future__ import annotations

import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from concurrent.futures import CancelledError
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import BinaryIO

from asr import audio, metrics
from asr.diarization import DiarizationSession, label_segments
from asr.engines.base import SAMPLE_RATE, Audio, Engine, Options, Segment, Transcription, TranscriptionInfo
from asr.errors import AudioTooLong, InvalidRequest, JobCancelled
from dhg_contract.schemas import SegmentIn, TranscriptIn, Word
from dhg_core.vocabulary import Device

ProgressCallback = Callable[[float], None]  # seconds of audio done
SegmentCallback = Callable[[Segment], None]


class Cancellation:
    """Stops a transcription from another thread (an async job cancelled): what its engine queued and has not
    decoded yet is dropped at once (the batcher's windows), and the decoding stops at its next window or segment."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._closers: list[Callable[[], None]] = []
        self.cancelled = False

    def add(self, closer: Callable[[], None]) -> None:
        with self._lock:
            if not self.cancelled:
                self._closers.append(closer)
                return
        closer()

    def cancel(self) -> None:
        with self._lock:
            self.cancelled, closers, self._closers = True, self._closers, []
        for closer in closers:
            closer()


@dataclass
class Result:
    segments: list[Segment]
    language: str
    duration: float
    processing_seconds: float
    engine: str
    model: str
    device: Device
    timings: dict[str, float] = field(default_factory=dict)
    language_probability: float | None = None  # when the language was detected, not given

    @property
    def text(self) -> str:
        return " ".join(s.text.strip() for s in self.segments).strip()

    @property
    def real_time_factor(self) -> float:
        return self.duration / self.processing_seconds if self.processing_seconds > 0 else 0.0

    def to_transcript(self, job_id: uuid.UUID, asset_id: uuid.UUID | None = None) -> TranscriptIn:
        """The Registry's transcript for this result, keyed by `job_id` (the idempotency key)."""
        return TranscriptIn(
            job_id=job_id,
            asset_id=asset_id,
            text=self.text,
            language=self.language,
            language_probability=self.language_probability,
            model=self.model,
            engine=self.engine,
            device=self.device,
            duration_seconds=self.duration,
            processing_seconds=self.processing_seconds,
            timings=self.timings,
            segments=[
                SegmentIn(
                    start=s.start,
                    end=max(s.end, s.start),
                    text=s.text,
                    avg_logprob=s.avg_logprob,
                    no_speech_prob=s.no_speech_prob,
                    speaker=s.speaker,
                    words=None
                    if s.words is None
                    else [
                        Word(
                            start=w.start,
                            end=max(w.end, w.start),
                            word=w.word,
                            probability=min(max(w.probability, 0.0), 1.0),
                            speaker=w.speaker,
                        )
                        for w in s.words
                    ],
                )
                for s in self.segments
            ],
        )


MAX_PROMPT_TOKENS = 224  # OpenAI's cap; Whisper itself keeps only the last 223 tokens of a longer one


def check(engine: Engine, source: Path | BinaryIO, options: Options, *, max_seconds: float) -> None:
    """Refuse what cannot be done before any audio is decoded: a translation or another language with an
    English-only model, a prompt over MAX_PROMPT_TOKENS (it would be cut, and long ones make the model echo it),
    audio whose container states a duration over `max_seconds` (read from the headers only; audio that states
    none, or less than it holds, is still stopped while decoding)."""
    if not engine.multilingual and options.task == "translate":
        raise InvalidRequest(f"model '{engine.model}' is English-only and cannot translate")
    if not engine.multilingual and options.language not in (None, "en"):
        raise InvalidRequest(f"model '{engine.model}' is English-only: leave language out or give 'en'")
    if options.prompt and (tokens := engine.prompt_tokens(options.prompt)) > MAX_PROMPT_TOKENS:
        raise InvalidRequest(f"the prompt is {tokens} tokens long; at most {MAX_PROMPT_TOKENS} are taken")
    stated = audio.probe(source)
    if stated is not None and stated > max_seconds:
        raise AudioTooLong(f"the file states {stated:.0f} s of audio; at most {max_seconds:.0f} s are taken")


def run(
    engine: Engine,
    source: Path | BinaryIO,
    options: Options,
    *,
    chunk_seconds: float,
    max_seconds: float,
    on_segment: SegmentCallback | None = None,
    on_progress: ProgressCallback | None = None,
    diarization: DiarizationSession | None = None,
    cancellation: Cancellation | None = None,
) -> Result:
    """Transcribe `source` chunk by chunk (memory stays flat in the audio's length), once `check` passes. With a
    `diarization` session, each chunk also goes to it, and the segments get their speakers at the end (they reach
    `on_segment` then: who is who is only known once all the audio is heard)."""
    started = time.perf_counter()
    check(engine, source, options, max_seconds=max_seconds)
    segments: list[Segment] = []
    held = options.language is not None
    language, duration = options.language or "", 0.0
    language_probability: float | None = None
    decode_seconds = diarization_seconds = 0.0
    emit = on_segment if diarization is None else None
    pieces = audio.chunks(source, chunk_seconds=chunk_seconds, max_seconds=max_seconds)
    # An engine that queues a piece's windows before its segments are read (the batcher's) gets the next piece
    # while this one decodes: the windows of one long file fill batches across pieces too.
    ahead = 1 if getattr(engine, "prefetches", False) else 0
    if emit is not None:  # a stream: its segments as they come, window by window, rather than a piece at a time
        ahead, options = 0, replace(options, window_lead=1)
    started_pieces: deque[tuple[float, Audio, Transcription]] = deque()

    def hold(info: TranscriptionInfo) -> None:
        # The language detected on the first piece that holds speech is held: one language for the whole file (a
        # piece of silence or music before it decides nothing; until then, the last guess stands).
        nonlocal held, language, language_probability, options
        held, language, language_probability = True, info.language, info.language_probability
        options = replace(options, language=language)

    try:
        while True:
            decode_started = time.perf_counter()
            piece = next(pieces, None)
            decode_seconds += time.perf_counter() - decode_started
            if piece is not None:
                if cancellation is not None and cancellation.cancelled:
                    raise JobCancelled("the transcription was cancelled")
                transcription = engine.transcribe(piece[1], options)
                if cancellation is not None and transcription.on_close is not None:
                    cancellation.add(transcription.on_close)
                if ahead and not held and transcription.info.speech_seconds:
                    hold(transcription.info)  # known before its segments: the next piece is decoded in it
                started_pieces.append((*piece, transcription))
                if len(started_pieces) <= ahead:
                    continue
            if not started_pieces:
                break
            offset, samples, transcription = started_pieces[0]
            heard = 0
            for raw in transcription.segments:
                segment = raw.shifted(offset)
                segments.append(segment)
                heard += 1
                if emit:
                    emit(segment)
                if on_progress:
                    on_progress(segment.end)
            if not held:
                language, language_probability = transcription.info.language, transcription.info.language_probability
                if heard:
                    hold(transcription.info)
            if diarization is not None:
                diarize_started = time.perf_counter()
                diarization.add(offset, samples)
                diarization_seconds += time.perf_counter() - diarize_started
            duration = offset + len(samples) / SAMPLE_RATE
            if on_progress:
                on_progress(duration)
            started_pieces.popleft()[2].close()
    except CancelledError:  # a window dropped by the cancellation while this thread waited for it
        if cancellation is not None and cancellation.cancelled:
            raise JobCancelled("the transcription was cancelled") from None
        raise
    finally:
        for _, _, unread in started_pieces:  # stopped early (cancelled, failed): their queued windows are dropped
            unread.close()
    timings = {"decode_seconds": round(decode_seconds, 4)}
    if diarization is not None:
        diarize_started = time.perf_counter()
        segments = label_segments(segments, diarization.finish())
        diarization_seconds += time.perf_counter() - diarize_started
        timings["diarization_seconds"] = round(diarization_seconds, 4)
        if on_segment is not None:
            for segment in segments:
                on_segment(segment)
    elapsed = time.perf_counter() - started
    result = Result(
        segments,
        language or "en",
        duration,
        elapsed,
        engine.name,
        engine.model,
        engine.device,
        {**timings, "total_seconds": round(elapsed, 4)},
        language_probability if engine.multilingual else None,
    )
    metrics.TRANSCRIPTIONS.labels(engine.name, engine.device, "ok").inc()
    metrics.AUDIO_SECONDS.labels(engine.name, engine.device).inc(duration)
    metrics.REAL_TIME_FACTOR.labels(engine.name, engine.device).observe(result.real_time_factor)
    return result
