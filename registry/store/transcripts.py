"""Transcripts and their segments. Writing is idempotent on `job_id`."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from registry.models import Asset, Job, Segment, Transcript
from registry.schemas import SegmentOut, TranscriptIn, TranscriptOut

SUMMARY_COLUMNS = [c for c in Transcript.__table__.c if c.name != "text"]
SEGMENT_COLUMNS = [
    Segment.id,
    Segment.position,
    Segment.start,
    Segment.end,
    Segment.text,
    Segment.words,
    Segment.avg_logprob,
    Segment.no_speech_prob,
]


class UnknownReference(ValueError):
    """The transcript names an asset that is not stored."""


def full_text(body: TranscriptIn) -> str:
    if body.text is not None:
        return body.text
    return " ".join(segment.text.strip() for segment in body.segments).strip()


async def create(session: AsyncSession, *, body: TranscriptIn, created_by: str) -> tuple[uuid.UUID, bool]:
    """Store the transcript unless its job_id is already stored; returns (transcript id, created).

    Concurrent pushes of the same job_id serialise on the unique index: the loser's INSERT waits for the
    winner's commit, then does nothing, and reads the winner's row."""
    statement = (
        insert(Transcript)
        .values(
            job_id=body.job_id,
            asset_id=body.asset_id,
            text=full_text(body),
            language=body.language,
            model=body.model,
            engine=body.engine,
            device=body.device,
            duration_seconds=body.duration_seconds,
            processing_seconds=body.processing_seconds,
            timings=body.timings,
            segment_count=len(body.segments),
            created_by=created_by,
        )
        .on_conflict_do_nothing(index_elements=[Transcript.job_id])
        .returning(Transcript.id)
    )
    if body.asset_id is not None and await session.get(Asset, body.asset_id) is None:
        raise UnknownReference(f"asset {body.asset_id} does not exist")
    transcript_id = (await session.execute(statement)).scalar_one_or_none()
    if transcript_id is None:
        existing = await session.scalar(select(Transcript.id).where(Transcript.job_id == body.job_id))
        assert existing is not None
        return existing, False
    if body.segments:
        rows = [
            {
                "transcript_id": transcript_id,
                "position": position,
                "start": s.start,
                "end": s.end,
                "text": s.text,
                "words": [w.model_dump() for w in s.words] if s.words is not None else None,
                "avg_logprob": s.avg_logprob,
                "no_speech_prob": s.no_speech_prob,
            }
            for position, s in enumerate(body.segments)
        ]
        await session.execute(insert(Segment), rows)
    await session.execute(
        update(Job).where(Job.id == body.job_id).values(transcript_id=transcript_id, updated_at=func.now())
    )
    return transcript_id, True


def _pairs(alias: str, fields: list[str]) -> str:
    return ", ".join(f"'{name}', {alias}.\"{name}\"" for name in fields)


# The read hot path: Postgres renders the whole transcript as JSON text in one query, with exactly the
# fields of the API schema (TranscriptOut, SegmentOut), so the server only passes bytes through.
# The SQL is built once from our own schema's field names, never from input.
_TRANSCRIPT_FIELDS = [name for name in TranscriptOut.model_fields if name != "segments"]
_SEGMENT_FIELDS = list(SegmentOut.model_fields)
_TRANSCRIPT_JSON = text(
    f"SELECT json_build_object({_pairs('t', _TRANSCRIPT_FIELDS)}, 'segments', COALESCE(("  # noqa: S608
    f"SELECT json_agg(json_build_object({_pairs('s', _SEGMENT_FIELDS)}) ORDER BY s.position) "
    "FROM segments s WHERE s.transcript_id = t.id), '[]'::json))::text FROM transcripts t WHERE t.id = :id"
)


async def get_json(session: AsyncSession, *, transcript_id: uuid.UUID) -> bytes | None:
    """The transcript as the API's JSON (TranscriptOut), rendered by the database; None when absent."""
    rendered = (await session.execute(_TRANSCRIPT_JSON, {"id": transcript_id})).scalar_one_or_none()
    return None if rendered is None else str(rendered).encode()


async def get(session: AsyncSession, *, transcript_id: uuid.UUID, with_segments: bool = True) -> dict[str, Any] | None:
    """The transcript as plain data (segments in order), or None."""
    row = (await session.execute(select(Transcript.__table__).where(Transcript.id == transcript_id))).mappings().first()
    if row is None:
        return None
    transcript = dict(row)
    if with_segments:
        segments = await session.execute(
            select(*SEGMENT_COLUMNS).where(Segment.transcript_id == transcript_id).order_by(Segment.position)
        )
        transcript["segments"] = [dict(s) for s in segments.mappings()]
    return transcript


async def list_page(
    session: AsyncSession,
    *,
    limit: int,
    offset: int,
    asset_id: uuid.UUID | None = None,
    job_id: uuid.UUID | None = None,
    language: str | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
) -> tuple[list[dict[str, Any]], int]:
    conditions = []
    if asset_id:
        conditions.append(Transcript.asset_id == asset_id)
    if job_id:
        conditions.append(Transcript.job_id == job_id)
    if language:
        conditions.append(Transcript.language == language)
    if created_after:
        conditions.append(Transcript.created_at >= created_after)
    if created_before:
        conditions.append(Transcript.created_at < created_before)
    total = await session.scalar(select(func.count()).select_from(Transcript).where(*conditions)) or 0
    rows = await session.execute(
        select(*SUMMARY_COLUMNS)
        .where(*conditions)
        .order_by(Transcript.created_at.desc(), Transcript.id)
        .limit(limit)
        .offset(offset)
    )
    return [dict(r) for r in rows.mappings()], total


async def remove(session: AsyncSession, *, transcript_id: uuid.UUID) -> uuid.UUID | None:
    """Delete a transcript (its segments cascade); returns its job_id, or None when absent."""
    job_id = (
        await session.execute(delete(Transcript).where(Transcript.id == transcript_id).returning(Transcript.job_id))
    ).scalar_one_or_none()
    if job_id is not None:
        await session.execute(update(Job).where(Job.transcript_id == transcript_id).values(transcript_id=None))
    return job_id
