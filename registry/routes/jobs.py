"""Transcription job records (written by the controller and the ASR service)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from dhg_contract.schemas import JobIn, JobOut, JobPatch, Page
from dhg_core.vocabulary import Phase
from registry import idempotency
from registry.deps import IngestAccess, PageDep, ReadAccess, SessionDep, record_audit
from registry.errors import IdempotencyMismatch, InvalidTransition, NotFound
from registry.store import events, jobs

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])


def _event_data(job: JobOut) -> dict[str, object]:
    return job.model_dump(mode="json", include={"id", "name", "phase", "device", "attempts", "error", "transcript_id"})


@router.post(
    "",
    name="job.create",
    status_code=201,
    responses={200: {"model": JobOut, "description": "A job with this id exists already."}},
)
async def create_job(
    body: JobIn, request: Request, response: Response, session: SessionDep, who: IngestAccess
) -> JobOut:
    """Record a job; with a client-chosen `id`, creating it again with the same name, source and parameters returns
    the stored job (its state as it is now), and with others is refused (409 idempotency-mismatch)."""
    async with session.begin():
        row, created = await jobs.create(session, body=body, created_by=who.actor)
        job = JobOut.model_validate(row)
        if not created:
            _same_job(body, job)
        await record_audit(
            request,
            session,
            action="job.create",
            entity_type="job",
            entity_id=row.id,
            status_code=201 if created else 200,
            detail={"replayed": not created},
        )
        if created:
            await events.emit(session, event="job.created", data=_event_data(job))
        if created and job.phase in jobs.TERMINAL_EVENTS:  # created finished: its subscribers hear it as for an update
            await events.emit(session, event=jobs.TERMINAL_EVENTS[job.phase], data=_event_data(job))
    response.status_code = 201 if created else 200
    response.headers["Location"] = f"/v1/jobs/{row.id}"
    return job


def _same_job(body: JobIn, stored: JobOut) -> None:
    """IdempotencyMismatch when a job is created again under its id with another name, source or parameters."""
    sent = idempotency.job_content(body.model_dump(mode="json"))
    kept = idempotency.job_content(stored.model_dump(mode="json"))
    if sent != kept:
        differs = idempotency.differences(kept, sent)
        raise IdempotencyMismatch(
            f"Job {stored.id} exists (created {stored.created_at.isoformat()}) with another "
            f"{idempotency.describe(differs)}. Nothing was changed; create it under another id.",
            stored={
                "id": str(stored.id),
                "href": f"/v1/jobs/{stored.id}",
                "content_sha256": idempotency.content_digest(kept),
            },
            sent_content_sha256=idempotency.content_digest(sent),
            differs=differs,
        )


@router.get("", name="job.list")
async def list_jobs(
    session: SessionDep,
    page: PageDep,
    who: ReadAccess,
    phase: Phase | None = None,
    name: Annotated[str | None, Query(max_length=300)] = None,
) -> Page[JobOut]:
    rows, total = await jobs.list_page(session, limit=page.limit, offset=page.offset, phase=phase, name=name)
    return Page(items=[JobOut.model_validate(r) for r in rows], total=total, limit=page.limit, offset=page.offset)


@router.get("/{job_id}", name="job.get")
async def get_job(job_id: uuid.UUID, session: SessionDep, who: ReadAccess) -> JobOut:
    row = await jobs.get(session, job_id=job_id)
    if row is None:
        raise NotFound(f"No job {job_id}.")
    return JobOut.model_validate(row)


@router.patch("/{job_id}", name="job.update")
async def update_job(
    job_id: uuid.UUID, patch: JobPatch, request: Request, session: SessionDep, who: IngestAccess
) -> JobOut:
    """Update phase, device, attempts, error, timings or the transcript link; finished jobs stay finished."""
    async with session.begin():
        row = await jobs.get(session, job_id=job_id, for_update=True)
        if row is None:
            raise NotFound(f"No job {job_id}.")
        previous = row.phase
        if patch.phase is not None and not jobs.transition_allowed(previous, patch.phase):
            raise InvalidTransition(
                f"Job {job_id} is {previous}; it cannot become {patch.phase}.", current_phase=previous
            )
        changed = jobs.apply_patch(row, patch)
        await session.flush()
        job = JobOut.model_validate(row)
        await record_audit(
            request,
            session,
            action="job.update",
            entity_type="job",
            entity_id=job_id,
            status_code=200,
            detail={"changed": changed, "from_phase": previous},
        )
        if changed:
            await events.emit(session, event="job.updated", data=_event_data(job))
        if "phase" in changed and job.phase in jobs.TERMINAL_EVENTS:
            await events.emit(session, event=jobs.TERMINAL_EVENTS[job.phase], data=_event_data(job))
    return job
