"""Transcripts: idempotent push (keyed by job_id), read in json/text/srt/vtt/tsv, list, delete."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from registry import formats, metrics
from registry.deps import PageDep, ReadAccess, SessionDep, WriteAccess, record_audit
from registry.errors import InvalidRequest, NotFound
from registry.schemas import Page, TranscriptFormat, TranscriptIn, TranscriptOut, TranscriptSummary
from registry.store import events, transcripts

router = APIRouter(prefix="/v1/transcripts", tags=["transcripts"])
REPLAY_HEADER = "Idempotent-Replayed"
RENDERED = {
    fmt: {"schema": {"type": "string"}}
    for fmt in ("text/plain", "application/x-subrip", "text/vtt", "text/tab-separated-values")
}


@router.post(
    "",
    name="transcript.create",
    status_code=201,
    responses={200: {"model": TranscriptOut, "description": "Replay: this job_id was stored before."}},
)
async def create_transcript(
    body: TranscriptIn, request: Request, response: Response, session: SessionDep, who: WriteAccess
) -> TranscriptOut:
    """Store a finished transcription. Pushing the same job_id again stores nothing and returns the first."""
    async with session.begin():
        try:
            transcript_id, created = await transcripts.create(session, body=body, created_by=who.actor)
        except transcripts.UnknownReference as error:
            raise InvalidRequest(str(error)) from error
        status = 201 if created else 200
        await record_audit(
            request,
            session,
            action="transcript.create",
            entity_type="transcript",
            entity_id=transcript_id,
            status_code=status,
            detail={"job_id": str(body.job_id), "replayed": not created},
        )
        if created:
            await events.emit(
                session,
                event="transcript.created",
                data={
                    "transcript_id": str(transcript_id),
                    "job_id": str(body.job_id),
                    "asset_id": str(body.asset_id) if body.asset_id else None,
                },
            )
        stored = await transcripts.get(session, transcript_id=transcript_id)
    assert stored is not None
    (metrics.TRANSCRIPTS_CREATED if created else metrics.TRANSCRIPT_REPLAYS).inc()
    response.status_code = status
    response.headers["Location"] = f"/v1/transcripts/{transcript_id}"
    if not created:
        response.headers[REPLAY_HEADER] = "true"
    return TranscriptOut.model_validate(stored)


@router.get("", name="transcript.list")
async def list_transcripts(
    session: SessionDep,
    page: PageDep,
    who: ReadAccess,
    asset_id: uuid.UUID | None = None,
    job_id: uuid.UUID | None = None,
    language: Annotated[str | None, Query(max_length=32)] = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
) -> Page[TranscriptSummary]:
    rows, total = await transcripts.list_page(
        session,
        limit=page.limit,
        offset=page.offset,
        asset_id=asset_id,
        job_id=job_id,
        language=language,
        created_after=created_after,
        created_before=created_before,
    )
    return Page(
        items=[TranscriptSummary.model_validate(r) for r in rows], total=total, limit=page.limit, offset=page.offset
    )


@router.get(
    "/{transcript_id}",
    name="transcript.get",
    responses={200: {"content": RENDERED, "description": "JSON, or the rendering asked by `format`."}},
)
async def get_transcript(
    transcript_id: uuid.UUID, session: SessionDep, who: ReadAccess, format: TranscriptFormat = "json"
) -> TranscriptOut:
    """The transcript with its segments; `format` renders it as text, srt, vtt or tsv instead."""
    if format == "json":
        body = await transcripts.get_json(session, transcript_id=transcript_id)
        if body is None:
            raise NotFound(f"No transcript {transcript_id}.")
        return Response(body, media_type="application/json")  # type: ignore[return-value]
    stored = await transcripts.get(session, transcript_id=transcript_id)
    if stored is None:
        raise NotFound(f"No transcript {transcript_id}.")
    rendered, media_type = formats.render(stored, format)
    return Response(rendered, media_type=media_type)  # type: ignore[return-value]


@router.delete("/{transcript_id}", name="transcript.delete", status_code=204)
async def delete_transcript(
    transcript_id: uuid.UUID, request: Request, session: SessionDep, who: WriteAccess
) -> Response:
    async with session.begin():
        job_id = await transcripts.remove(session, transcript_id=transcript_id)
        if job_id is None:
            raise NotFound(f"No transcript {transcript_id}.")
        await record_audit(
            request,
            session,
            action="transcript.delete",
            entity_type="transcript",
            entity_id=transcript_id,
            status_code=204,
            detail={"job_id": str(job_id)},
        )
        await events.emit(
            session, event="transcript.deleted", data={"transcript_id": str(transcript_id), "job_id": str(job_id)}
        )
    return Response(status_code=204)
