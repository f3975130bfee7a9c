"""Async job bookkeeping and the admission queue (pure: no model, no HTTP)."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from asr.admission import Admission
from asr.engines.base import Options
from asr.errors import JobCancelled, JobNotFound, QueueFull
from asr.jobs import Job, JobTable, Spec


def job(audio_seconds=None):
    spec = Spec("transcribe", "tiny.en", Options(), "json", frozenset(), uuid.uuid4(), None)
    return Job(spec, Path("/nonexistent"), audio_seconds=audio_seconds)


def test_progress_is_a_fraction_that_reaches_one_only_on_success():
    j = job(audio_seconds=100)
    assert j.progress == 0.0
    j.status = "running"
    j.advance(25)
    j.advance(10)  # segments can end earlier than a chunk already reported: progress never goes back
    assert j.progress == 0.25
    j.advance(100)
    assert j.progress == 0.99
    j.status = "succeeded"
    assert j.progress == 1.0 and j.view().progress == 1.0


def test_progress_is_unknown_when_the_length_is_and_cancel_stops_the_decoder():
    j = job()
    j.status = "running"
    assert j.progress is None
    j.cancel_requested = True
    with pytest.raises(JobCancelled):
        j.advance(5)


def test_finished_jobs_are_forgotten_after_retention():
    table = JobTable(retention_seconds=60)
    old, fresh = job(), job()
    old.status, old.finished_at = "succeeded", datetime.now(UTC) - timedelta(seconds=61)
    table.add(old)
    table.add(fresh)
    assert table.get(fresh.id) is fresh and table.active(fresh.id) is fresh
    with pytest.raises(JobNotFound):
        table.get(old.id)


def test_admission_refuses_beyond_the_queue_and_a_cancelled_ticket_frees_its_place():
    async def scenario():
        admission = Admission(concurrency=1, queue_size=2, retry_after_seconds=5)
        first, second = admission.ticket(), admission.ticket()
        with pytest.raises(QueueFull):
            admission.ticket()
        second.cancel()
        second.cancel()  # idempotent: the place is given back once
        assert admission.waiting == 1
        async with first:
            assert admission.waiting == 0
            third = admission.ticket()
            waiter = asyncio.create_task(third.__aenter__())
            await asyncio.sleep(0.01)
            assert not waiter.done()  # one decoder, busy
        await asyncio.wait_for(waiter, 1)
        await third.__aexit__(None, None, None)
        assert admission.waiting == 0

    asyncio.run(scenario())
