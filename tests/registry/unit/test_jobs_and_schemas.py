import uuid
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from dhg_contract.schemas import JobIn, JobPatch, JobSource, SegmentIn, TranscriptIn
from registry.models import Job
from registry.store.jobs import apply_patch, initial_state, transition_allowed


def test_finished_jobs_stay_finished_but_may_repeat_their_phase():
    assert transition_allowed("Pending", "Running")
    assert transition_allowed("Running", "Pending")  # a retry
    assert transition_allowed("Succeeded", "Succeeded")
    assert not transition_allowed("Succeeded", "Running")
    assert not transition_allowed("Failed", "Succeeded")
    assert not transition_allowed("Cancelled", "Pending")


def test_patch_sets_started_and_finished_times_once():
    job = Job(phase="Pending", started_at=None, finished_at=None, attempts=0, device=None)
    t1, t2 = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)
    assert apply_patch(job, JobPatch(phase="Running", attempts=1), now=t1) == ["phase", "attempts"]
    assert job.started_at == t1 and job.finished_at is None
    apply_patch(job, JobPatch(phase="Succeeded"), now=t2)
    assert job.finished_at == t2 and job.started_at == t1
    assert apply_patch(job, JobPatch(phase="Succeeded"), now=t2) == []


def test_a_job_is_created_in_its_given_state_timed_as_a_patch_times_it():
    source, now = JobSource(url="https://example.org/a.wav"), datetime(2026, 1, 1, tzinfo=UTC)
    assert initial_state(JobIn(source=source), now=now) == {}  # the table's defaults: Pending, no attempts
    running = initial_state(JobIn(source=source, phase="Running", device="gpu", attempts=1), now=now)
    assert running == {"phase": "Running", "device": "gpu", "attempts": 1, "started_at": now}
    given = datetime(2025, 12, 31, tzinfo=UTC)
    failed = initial_state(JobIn(source=source, phase="Failed", error="not audio", started_at=given), now=now)
    assert failed == {"phase": "Failed", "error": "not audio", "started_at": given, "finished_at": now}
    assert initial_state(JobIn(source=source, phase="Scheduling"), now=now) == {"phase": "Scheduling"}


def test_job_source_needs_exactly_one_of_url_asset_path():
    assert JobSource(url="https://example.org/a.wav").url is not None
    with pytest.raises(ValidationError):
        JobSource()
    with pytest.raises(ValidationError):
        JobSource(url="https://example.org/a.wav", path="/data/a.wav")
    with pytest.raises(ValidationError):
        JobSource(url="ftp://example.org/a.wav")


def test_segments_must_end_after_they_start_and_fields_are_strict():
    with pytest.raises(ValidationError):
        SegmentIn(start=2.0, end=1.0, text="backwards")
    with pytest.raises(ValidationError):
        TranscriptIn(job_id=uuid.uuid4(), segments=[], unexpected="field")
    assert SegmentIn(start=1.0, end=1.0, text="instant").end == 1.0


@pytest.mark.parametrize(
    ("status", "set_aside"),
    [(400, True), (404, True), (409, True), (410, True), (413, True), (415, True), (422, True),
     (401, False), (403, False), (408, False), (429, False), (500, False), (503, False), (None, False)],
)  # fmt: skip
def test_an_outbox_sets_aside_every_4xx_but_auth_timeouts_and_throttling(status, set_aside) -> None:
    """Issue 17: a delivery the Registry refuses as invalid is dead-lettered, never retried forever."""
    from dhg_contract.client import RegistryAPIError

    assert RegistryAPIError(status, {}, "refused").rejects_content is set_aside
