"""Async transcription jobs: submit (202), poll the status with a progress fraction, fetch the result, cancel.

A job's audio is spooled to disk when it is accepted; its result goes to the Registry like any other (keyed by
the job id, through the durable outbox), so a finished result survives this process. The job table itself
lives in memory: finished jobs are kept for `job_retention_seconds`, then forgotten (the Registry keeps the
transcript). A job still queued or running when the process stops is lost; its client sees 404 and submits
again with the same job id, which the Registry de-duplicates.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from asr import metrics
from asr.diarization import DiarizationOptions
from asr.engines.base import Options, Task
from asr.errors import JobCancelled, JobNotFound
from asr.protocol import JOB_RESULT_PATH
from asr.request_options import Subtitles
from asr.responses import ResponseFormat
from asr.transcribe import Cancellation, Result

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
FINISHED: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})
STATUSES: tuple[JobStatus, ...] = ("queued", "running", "succeeded", "failed", "cancelled")


@dataclass(frozen=True)
class Spec:
    """One transcription request: what to decode and how to answer."""

    task: Task
    model: str
    options: Options
    response_format: ResponseFormat
    granularities: frozenset[str]
    job_id: uuid.UUID
    asset_id: uuid.UUID | None
    diarization: DiarizationOptions | None = None  # None: no speakers
    include: frozenset[str] = frozenset()  # OpenAI's include[]: logprobs
    subtitles: Subtitles = field(default_factory=Subtitles)


class JobView(BaseModel):
    """An async job as the API shows it (`GET /v1/audio/jobs/{id}`, the 202 of `Prefer: respond-async`)."""

    id: uuid.UUID
    object: Literal["audio.job"] = "audio.job"
    task: Task
    model: str
    status: JobStatus
    progress: float | None = Field(description="Fraction of the audio done, 0 to 1; null while its length is unknown.")
    audio_seconds: float | None
    processed_seconds: float
    response_format: ResponseFormat
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    real_time_factor: float | None = Field(description="Audio seconds per wall second, once succeeded.")
    error: dict[str, Any] | None = Field(description="Why it failed or was cancelled: an RFC 9457 problem.")
    result_url: str = Field(description="Where the finished transcript is (409 until then).")


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Job:
    spec: Spec
    path: Path
    audio_seconds: float | None = None
    status: JobStatus = "queued"
    processed_seconds: float = 0.0
    created_at: datetime = field(default_factory=_now)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    result: Result | None = None
    error: dict[str, Any] | None = None
    cancel_requested: bool = False
    cancellation: Cancellation = field(default_factory=Cancellation)  # drops its queued windows when cancelled

    @property
    def id(self) -> uuid.UUID:
        return self.spec.job_id

    @property
    def progress(self) -> float | None:
        """Fraction of the audio done, 0 to 1 (1 only once succeeded); None when the length is unknown."""
        if self.status == "succeeded":
            return 1.0
        if not self.audio_seconds:
            return 0.0 if self.status == "queued" else None
        return round(min(self.processed_seconds / self.audio_seconds, 0.99), 4)

    def advance(self, seconds_done: float) -> None:
        """Progress callback of the decoder thread; stops the decoding when the job was cancelled."""
        if self.cancel_requested:
            raise JobCancelled(f"job {self.id} was cancelled")
        self.processed_seconds = max(self.processed_seconds, seconds_done)

    def view(self) -> JobView:
        """The job as the API shows it."""
        return JobView(
            id=self.id,
            task=self.spec.task,
            model=self.spec.model,
            status=self.status,
            progress=self.progress,
            audio_seconds=self.audio_seconds,
            processed_seconds=round(self.processed_seconds, 3),
            response_format=self.spec.response_format,
            created_at=self.created_at,
            started_at=self.started_at,
            finished_at=self.finished_at,
            real_time_factor=round(self.result.real_time_factor, 2) if self.result else None,
            error=self.error,
            result_url=JOB_RESULT_PATH.format(job_id=self.id),
        )


class JobTable:
    """The jobs of this process, by id; finished ones are forgotten after `retention_seconds`."""

    def __init__(self, retention_seconds: float) -> None:
        self.retention_seconds = retention_seconds
        self._jobs: dict[uuid.UUID, Job] = {}
        self._lock = threading.Lock()

    def add(self, job: Job) -> None:
        with self._lock:
            self._prune()
            self._jobs[job.id] = job
            self._count()

    def get(self, job_id: uuid.UUID) -> Job:
        with self._lock:
            self._prune()
            job = self._jobs.get(job_id)
        if job is None:
            kept = f"finished jobs are kept {self.retention_seconds:g} s"
            raise JobNotFound(f"no transcription job {job_id} here ({kept})")
        return job

    def active(self, job_id: uuid.UUID) -> Job | None:
        """The job with this id when it is queued or running (a second submit of it is refused)."""
        with self._lock:
            job = self._jobs.get(job_id)
        return job if job is not None and job.status not in FINISHED else None

    def changed(self) -> None:
        with self._lock:
            self._count()

    def _prune(self) -> None:
        horizon = time.time() - self.retention_seconds
        stale = [key for key, job in self._jobs.items() if job.finished_at and job.finished_at.timestamp() < horizon]
        for key in stale:
            del self._jobs[key]

    def _count(self) -> None:
        counts = dict.fromkeys(STATUSES, 0)
        for job in self._jobs.values():
            counts[job.status] += 1
        for status, count in counts.items():
            metrics.JOBS.labels(status).set(count)
