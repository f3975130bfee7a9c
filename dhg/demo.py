"""What `dhg up` shows once the stack is up: the bundled sample transcribed and searched through the APIs."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from asr.evaluation import word_error_rate
from asr.outbox import Outbox
from dhg.asr_client import AsrClient, Transcription
from dhg.errors import TranscriptNotStored
from dhg.sample import REFERENCE_TEXT, SAMPLE_PATH, SEARCH_QUERY, sample_job_id
from dhg_contract.client import RegistryAPIError, RegistryClient
from dhg_contract.schemas import AssetOut, JobIn, JobOut, JobPatch, JobSource, SearchResult, TranscriptOut
from dhg_core.vocabulary import DEVICES, TERMINAL_PHASES

STORE_POLL_SECONDS = 0.2
SEARCH_POLL_SECONDS = 0.2
MODEL_POLL_SECONDS = 1.0
SERVICE_UNAVAILABLE = 503
JOB_NAME = "dhg up sample"


@dataclass(frozen=True)
class DemoResult:
    asset: AssetOut
    asset_is_new: bool
    transcription: Transcription
    transcribe_seconds: float
    word_error_rate: float
    transcript: TranscriptOut
    stored_before: bool
    job: JobOut
    search: SearchResult
    search_note: str = ""  # why the search was not semantic, when it could have been
    refused: str = ""  # the Registry's words when it refused this run's result (another transcript holds the job)


def wait_for_transcript(registry: RegistryClient, job_id: uuid.UUID, timeout: float) -> TranscriptOut:
    """The transcript the ASR service delivers for `job_id`, once the Registry has it."""
    deadline = time.monotonic() + timeout
    while (page := registry.list_transcripts(job_id=job_id, limit=1)).total == 0:
        if time.monotonic() > deadline:
            raise TranscriptNotStored(
                f"the ASR service answered, but the Registry had no transcript for job {job_id} within {timeout:g} s"
            )
        time.sleep(STORE_POLL_SECONDS)
    return registry.get_transcript(page.items[0].id)


def _record_success(registry: RegistryClient, job: JobOut, transcript: TranscriptOut) -> JobOut:
    """Mark the job Succeeded with its transcript; a finished job (an earlier run's) stays as it is."""
    if job.phase in TERMINAL_PHASES:
        return job
    patch: dict[str, object] = {"phase": "Succeeded", "transcript_id": transcript.id, "finished_at": datetime.now(UTC)}
    if transcript.device in DEVICES:
        patch["device"] = transcript.device
    return registry.update_job(job.id, JobPatch.model_validate(patch))


def search_sample(
    registry: RegistryClient, transcript: TranscriptOut, *, timeout: float, sleep: Callable[[float], None] = time.sleep
) -> tuple[SearchResult, str]:
    """Semantic search over the sample once its segments are embedded (after a start, the model loads and the
    embedding worker catches up in the background); full text when semantic search is off, or not ready within
    `timeout`, with a note saying which."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            found = registry.search(SEARCH_QUERY, transcript_id=transcript.id, mode="semantic")
            if found.items:
                return found, ""
            delay = SEARCH_POLL_SECONDS  # the embedding worker has not reached the new segments yet
            waiting = "the sample's segments were not embedded yet"
        except RegistryAPIError as error:
            if error.status != SERVICE_UNAVAILABLE:
                raise
            if error.retry_after is None:  # semantic search is off here: full text is all there is
                return registry.search(SEARCH_QUERY, transcript_id=transcript.id, mode="fulltext"), ""
            delay = min(error.retry_after, MODEL_POLL_SECONDS)
            waiting = "the embedding model was still loading"
        if time.monotonic() + delay > deadline:
            note = f"{waiting} after {timeout:g} s; `dhg search` uses semantic search once it is ready"
            return registry.search(SEARCH_QUERY, transcript_id=transcript.id, mode="fulltext"), note
        sleep(delay)


def wait_for_delivery(outbox: Outbox, job_id: uuid.UUID, *, since: float, timeout: float) -> str:
    """Once the ASR service has delivered `job_id`'s result: "" when the Registry took it (stored, or the same result
    stored before), else its words refusing it."""
    deadline = time.monotonic() + timeout
    while outbox.waiting(job_id):
        if time.monotonic() > deadline:
            raise TranscriptNotStored(f"the ASR service did not deliver the result of job {job_id} in {timeout:g} s")
        time.sleep(STORE_POLL_SECONDS)
    return outbox.refusal(job_id, since=since) or ""


def run_demo(
    registry: RegistryClient,
    asr: AsrClient,
    *,
    store_timeout: float,
    search_timeout: float,
    outbox: Outbox | None = None,
) -> DemoResult:
    """The sample through both APIs as a client would use them: store, transcribe, wait until stored (with the ASR
    service's `outbox`: until delivered, or refused), search."""
    uploaded = registry.upload_asset(SAMPLE_PATH)
    asset = uploaded.value
    job_id = sample_job_id(asset.sha256)
    job = registry.create_job(JobIn(id=job_id, name=JOB_NAME, source=JobSource(asset_id=asset.id))).value
    stored_before = registry.list_transcripts(job_id=job_id, limit=1).total > 0
    started, sent_at = time.monotonic(), time.time()
    transcription = asr.transcribe(SAMPLE_PATH, response_format="verbose_json", job_id=job_id, asset_id=asset.id)
    transcribe_seconds = time.monotonic() - started
    refused = wait_for_delivery(outbox, job_id, since=sent_at, timeout=store_timeout) if outbox else ""
    transcript = wait_for_transcript(registry, job_id, store_timeout)
    search, search_note = search_sample(registry, transcript, timeout=search_timeout)
    return DemoResult(
        asset=asset,
        asset_is_new=uploaded.created,
        transcription=transcription,
        transcribe_seconds=transcribe_seconds,
        word_error_rate=word_error_rate(REFERENCE_TEXT, str(transcription.parsed().get("text", ""))),
        transcript=transcript,
        stored_before=stored_before,
        job=job if refused else _record_success(registry, job, transcript),
        search=search,
        search_note=search_note,
        refused=refused,
    )
