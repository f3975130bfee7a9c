"""Transcription job records: created once per job id, updated as the job moves through its phases."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from dhg_contract.schemas import EventType, JobIn, JobPatch
from dhg_core.vocabulary import TERMINAL_PHASES, Phase
from registry.models import Job

TERMINAL_EVENTS: Final[dict[Phase, EventType]] = {
    "Succeeded": "job.succeeded",
    "Failed": "job.failed",
    "Cancelled": "job.cancelled",
}


def transition_allowed(current: str, new: str) -> bool:
    """Any phase may follow a live one (retries go back to Pending or Scheduling); a finished job stays
    finished, though repeating its final phase is allowed so that updates are idempotent."""
    return current not in TERMINAL_PHASES or new == current


def initial_state(body: JobIn, *, now: datetime | ColumnElement[datetime]) -> dict[str, Any]:
    """The state fields a job is created with: those given, timed as `apply_patch` times a phase change (a job
    created Running is started `now`, one created finished is finished `now`, unless the times are given)."""
    values = body.model_dump(include=set(JobPatch.model_fields), exclude_none=True)
    phase = values.get("phase", "Pending")
    if phase == "Running":
        values.setdefault("started_at", now)
    if phase in TERMINAL_PHASES:
        values.setdefault("finished_at", now)
    return values


async def create(session: AsyncSession, *, body: JobIn, created_by: str) -> tuple[Job, bool]:
    """Insert the job, or return the one stored under its id (unchanged: a replay is not an update)."""
    values: dict[str, Any] = {
        "name": body.name,
        "source": body.source.model_dump(mode="json", exclude_none=True),
        "parameters": body.parameters,
        "created_by": created_by,
        **initial_state(body, now=func.now()),  # the database's clock, as created_at's: the same instant
    }
    if body.id is not None:
        values["id"] = body.id
    statement = insert(Job).values(**values).on_conflict_do_nothing(index_elements=[Job.id]).returning(Job)
    created = (await session.execute(statement)).scalar_one_or_none()
    if created is not None:
        return created, True
    existing = await session.get(Job, body.id)
    assert existing is not None
    return existing, False


async def get(session: AsyncSession, *, job_id: uuid.UUID, for_update: bool = False) -> Job | None:
    statement = select(Job).where(Job.id == job_id)
    if for_update:
        statement = statement.with_for_update()
    return (await session.execute(statement)).scalar_one_or_none()


def apply_patch(job: Job, patch: JobPatch, *, now: datetime | None = None) -> list[str]:
    """Apply the fields that were set; returns the names of the fields that changed."""
    now = now or datetime.now(UTC)
    changed = []
    for name, value in patch.model_dump(exclude_unset=True).items():
        if getattr(job, name) != value:
            setattr(job, name, value)
            changed.append(name)
    if "phase" in changed:
        if job.phase == "Running" and job.started_at is None:
            job.started_at = now
        if job.phase in TERMINAL_PHASES and job.finished_at is None:
            job.finished_at = now
    if changed:
        job.updated_at = now
    return changed


async def list_page(
    session: AsyncSession, *, limit: int, offset: int, phase: str | None = None, name: str | None = None
) -> tuple[list[Job], int]:
    conditions = []
    if phase:
        conditions.append(Job.phase == phase)
    if name:
        conditions.append(Job.name == name)
    total = await session.scalar(select(func.count()).select_from(Job).where(*conditions)) or 0
    rows = await session.scalars(
        select(Job).where(*conditions).order_by(Job.created_at.desc(), Job.id).limit(limit).offset(offset)
    )
    return list(rows), total
