"""The ASR service's work behind its routes: admission, decoding, streams, async jobs, language detection.

One `TranscriptionService`, made by create_app and handed to the routes as a dependency; nothing here speaks
HTTP. Every finished transcription goes to the Registry (keyed by the job id) whichever way it was asked for,
and every one that ends in an error is counted by its outcome."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import anyio

from asr import audio, diarization, identification, metrics, outcomes, streaming, transcribe, uploads
from asr.admission import Admission, Ticket
from asr.delivery import Delivery, make_delivery
from asr.diarization import Diarizer
from asr.engines.base import Engine, Segment
from asr.errors import (
    AsrError,
    DiarizationUnavailable,
    InvalidRequest,
    JobCancelled,
    JobNotFinished,
    NotReady,
)
from asr.jobs import FINISHED, Job, JobTable, Spec
from asr.models import ModelManager
from asr.protocol import JOB_PATH
from asr.settings import Settings
from asr.transcribe import Result
from asr.uploads import Upload

log = logging.getLogger("asr.service")
LANGUAGE_SECONDS = 30.0  # by default, the language is told from the first 30 s (one window)
MAX_LANGUAGE_SECONDS = 300.0  # and at most from the first 5 minutes (ten windows)
UNKNOWN_DEVICE = "unknown"  # the device label of outcomes counted before the default model has loaded


@dataclass(frozen=True)
class Admitted:
    """An answer that outlives its request: its place in the queue, its spooled audio and stated duration."""

    ticket: Ticket
    path: Path
    seconds: float | None


@dataclass(frozen=True)
class LanguageGuess:
    """Spoken languages by probability, most likely first, and the model that heard them."""

    ranked: list[tuple[str, float]]
    model: str
    multilingual: bool


@dataclass(eq=False)
class TranscriptionService:
    """What the routes call: the models, the bounded queue, delivery to the Registry and the async jobs."""

    settings: Settings
    models: ModelManager
    admission: Admission
    delivery: Delivery
    jobs: JobTable
    job_tasks: set[asyncio.Task[None]] = field(default_factory=set)
    default_engine: Engine | None = None
    load_error: str | None = None
    live_sessions: int = 0  # open /v1/realtime sessions (asr/routes/realtime.py)
    _diarizer: Diarizer | None = None
    _diarizer_lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def from_settings(cls, settings: Settings) -> TranscriptionService:
        return cls(
            settings=settings,
            models=ModelManager(settings),
            admission=Admission(settings.decoders, settings.queue_size, settings.retry_after_seconds),
            delivery=make_delivery(settings),
            jobs=JobTable(settings.job_retention_seconds),
        )

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """The service's lifespan: load the default model, deliver results, unload idle models; at the end,
        stop all of it and the async jobs still running."""
        background = [self._load_default_model(), self.delivery.run(), self._unload_idle()]
        tasks = [asyncio.create_task(coroutine) for coroutine in background]
        try:
            yield
        finally:
            for task in [*tasks, *self.job_tasks]:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*tasks, *self.job_tasks, return_exceptions=True)

    async def _load_default_model(self) -> None:
        try:
            engine = await anyio.to_thread.run_sync(self.models.get, None)
        except AsrError as error:
            self.load_error = error.detail
            log.error("the default model could not be loaded", extra={"error": error.detail})
            return
        self.default_engine = engine
        metrics.DEVICE.labels(engine.device).set(1)
        for outcome in metrics.OUTCOMES:  # every outcome's series exists from the start, at 0
            metrics.TRANSCRIPTIONS.labels(engine.name, engine.device, outcome)

    async def _unload_idle(self) -> None:
        while True:
            await asyncio.sleep(max(1.0, self.settings.model_idle_seconds / 10))
            self.models.unload_idle()

    def ready_engine(self) -> Engine:
        """The loaded default model; NotReady (503) until it is, with the reason when loading failed."""
        if self.default_engine is None:
            reason = f": {self.load_error}" if self.load_error else " yet"
            raise NotReady(f"the default model is not loaded{reason}")
        return self.default_engine

    def _counted(self) -> AbstractContextManager[None]:
        engine = self.default_engine
        if engine is None:
            return outcomes.counted(self.settings.engine, UNKNOWN_DEVICE)
        return outcomes.counted(engine.name, engine.device)

    async def execute(
        self,
        spec: Spec,
        source: Path | BinaryIO,
        *,
        on_segment: Callable[[Segment], None] | None = None,
        on_progress: Callable[[float], None] | None = None,
        cancellation: transcribe.Cancellation | None = None,
    ) -> Result:
        """Load the model, transcribe `source` in a thread, hand the result to the Registry delivery.

        The caller holds a decoder slot (an admission ticket) around this."""
        engine = await anyio.to_thread.run_sync(self.models.get, spec.model)
        settings = self.settings
        diarization = None
        if spec.diarization is not None:
            diarization = (await anyio.to_thread.run_sync(self.diarizer)).session(spec.diarization)
        try:
            result = await anyio.to_thread.run_sync(
                lambda: transcribe.run(
                    engine,
                    source,
                    spec.options,
                    chunk_seconds=settings.chunk_seconds,
                    max_seconds=settings.max_audio_seconds,
                    on_segment=on_segment,
                    on_progress=on_progress,
                    diarization=diarization,
                    cancellation=cancellation,
                )
            )
        finally:
            self.models.touch(engine)
        self.delivery.submit(result.to_transcript(spec.job_id, spec.asset_id))
        return result

    def diarizer(self) -> Diarizer:
        """The diarization backend, loaded on first use; DiarizationUnavailable when it is off or not installed."""
        with self._diarizer_lock:
            if self._diarizer is None:
                backend = self.settings.diarization_backend
                if backend == "off":
                    raise DiarizationUnavailable("speaker diarization is turned off here (DHG_ASR_DIARIZATION_BACKEND)")
                try:
                    self._diarizer = diarization.load(backend)
                except (diarization.EncoderMissing, ValueError) as error:
                    raise DiarizationUnavailable(str(error)) from error
            return self._diarizer

    async def check(self, spec: Spec, source: Path | BinaryIO) -> None:
        """What can be refused before a decoder is taken or a job accepted (transcribe.check: the options against
        the model, the duration the container states; speakers where diarization is not installed); loads the model
        if it is not loaded."""
        if spec.diarization is not None:
            await anyio.to_thread.run_sync(self.diarizer)
        await anyio.to_thread.run_sync(self.models.check, spec.model, spec.options)
        engine = await anyio.to_thread.run_sync(self.models.get, spec.model)
        await anyio.to_thread.run_sync(
            lambda: transcribe.check(engine, source, spec.options, max_seconds=self.settings.max_audio_seconds)
        )

    async def transcribe(self, spec: Spec, upload: Upload) -> Result:
        """The whole result at once: wait for a decoder (or QueueFull now), decode the upload as it is."""
        with self._counted():
            uploads.check(upload, self.settings)
            await self.check(spec, upload.file)
            async with self.admission.ticket():
                return await self.execute(spec, upload.file)

    async def _admit(self, spec: Spec, upload: Upload) -> Admitted:
        """For answers that outlive the request: a place in the queue (429 now, while the client still waits for
        an answer), the audio spooled and checked (400 now rather than a failed job), and its stated duration."""
        ticket = self.admission.ticket()
        path: Path | None = None
        try:
            path = await uploads.spool(upload, self.settings, spec.job_id)
            await self.check(spec, path)
            seconds = await anyio.to_thread.run_sync(audio.probe, path)
        except BaseException:
            ticket.cancel()
            if path is not None:
                uploads.discard(path)
            raise
        return Admitted(ticket, path, seconds)

    async def stream(self, spec: Spec, upload: Upload, *, instance: str) -> AsyncIterator[bytes]:
        """Admit the upload now; the events (streaming.events) decode it once the response is being sent."""
        with self._counted():
            uploads.check(upload, self.settings)
            admitted = await self._admit(spec, upload)

        async def decode(on_segment: Callable[[Segment], None]) -> Result:
            try:
                with self._counted():
                    async with admitted.ticket:
                        return await self.execute(spec, admitted.path, on_segment=on_segment)
            finally:
                uploads.discard(admitted.path)

        return streaming.events(decode, instance=instance)

    async def submit(self, spec: Spec, upload: Upload) -> Job:
        """Accept an async job (refused now when the queue is full or the audio is bad) and start it."""
        with self._counted():
            uploads.check(upload, self.settings)
            if self.jobs.active(spec.job_id) is not None:
                raise InvalidRequest(f"job {spec.job_id} is already queued or running here")
            admitted = await self._admit(spec, upload)
        job = Job(spec, admitted.path, audio_seconds=admitted.seconds)
        self.jobs.add(job)
        task = asyncio.create_task(self._run_job(job, admitted.ticket), name=f"job-{job.id}")
        self.job_tasks.add(task)
        task.add_done_callback(self.job_tasks.discard)
        return job

    async def _run_job(self, job: Job, ticket: Ticket) -> None:
        try:
            with self._counted():
                await self._decode_job(job, ticket)
            job.status = "succeeded"
        except JobCancelled as error:
            job.status, job.error = "cancelled", error.problem()
        except AsrError as error:
            job.status, job.error = "failed", error.problem()
        except Exception:
            log.exception("an async transcription job failed", extra={"job": str(job.id)})
            job.status, job.error = "failed", AsrError("an unexpected error occurred; see the server log").problem()
        finally:
            ticket.cancel()
            job.finished_at = datetime.now(UTC)
            uploads.discard(job.path)
            self.jobs.changed()

    async def _decode_job(self, job: Job, ticket: Ticket) -> None:
        if job.cancel_requested:
            raise JobCancelled(f"job {job.id} was cancelled before it started")
        async with ticket:
            if job.cancel_requested:
                raise JobCancelled(f"job {job.id} was cancelled before it started")
            job.status, job.started_at = "running", datetime.now(UTC)
            self.jobs.changed()
            job.result = await self.execute(job.spec, job.path, on_progress=job.advance, cancellation=job.cancellation)

    def job(self, job_id: uuid.UUID) -> Job:
        """An async job of this process (JobNotFound, 404, once forgotten)."""
        return self.jobs.get(job_id)

    def job_result(self, job_id: uuid.UUID) -> tuple[Spec, Result]:
        """A finished job's spec and result; JobNotFinished (409) while it runs or when it ended without one."""
        job = self.jobs.get(job_id)
        if job.result is not None:
            return job.spec, job.result
        if job.status in FINISHED:
            detail = (job.error or {}).get("detail", "no result")
            raise JobNotFinished(f"job {job_id} ended {job.status}: {detail}")
        raise JobNotFinished(
            f"job {job_id} is {job.status} ({job.progress} done); poll {JOB_PATH.format(job_id=job_id)}",
            retry_after=self.settings.retry_after_seconds,
        )

    def cancel(self, job_id: uuid.UUID) -> Job:
        """Ask a queued or running job to stop (at its next segment); a finished job is left as it is."""
        job = self.jobs.get(job_id)
        if job.status not in FINISHED:
            job.cancel_requested = True
            job.cancellation.cancel()
        return job

    async def detect_language(self, upload: Upload, model: str, seconds: float = LANGUAGE_SECONDS) -> LanguageGuess:
        """The spoken languages of the first `seconds`, by probability (an English-only model only ever hears
        English)."""
        uploads.check(upload, self.settings)
        async with self.admission.ticket():
            engine = await anyio.to_thread.run_sync(self.models.get, model)
            try:
                samples = await anyio.to_thread.run_sync(lambda: audio.head(upload.file, seconds=seconds))
                ranked = await anyio.to_thread.run_sync(identification.identify, samples, engine.detect_language)
            finally:
                self.models.touch(engine)
        return LanguageGuess(ranked, engine.model, engine.multilingual)
