"""Transcripts: idempotent push (keyed by job_id), read in json/text/srt/vtt/tsv, list, delete."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request, Response

from dhg_contract.schemas import (
    Page,
    QueryDatetime,
    SpeakerTalk,
    TranscriptFormat,
    TranscriptIn,
    TranscriptOut,
    TranscriptSpeakers,
    TranscriptSummary,
)
from dhg_core import formats
from registry import idempotency, metrics
from registry.batching import WriteAlone
from registry.deps import IngestAccess, PageDep, ReadAccess, SessionDep, WriteAccess, record_audit
from registry.errors import Conflict, IdempotencyMismatch, InvalidRequest, NotFound
from registry.resources import Resources, ResourcesDep
from registry.store import events, transcripts

router = APIRouter(prefix="/v1/transcripts", tags=["transcripts"])
REPLAY_HEADER = "Idempotent-Replayed"
PUSH_ATTEMPTS = 3
RENDERED = {
    fmt: {"schema": {"type": "string"}}
    for fmt in ("text/plain", "application/x-subrip", "text/vtt", "text/tab-separated-values")
}


@router.post(
    "",
    name="transcript.create",
    status_code=201,
    response_model=TranscriptOut,
    responses={200: {"model": TranscriptOut, "description": "Replay: this job_id was stored before."}},
)
async def create_transcript(
    body: TranscriptIn, request: Request, resources: ResourcesDep, who: IngestAccess
) -> Response:
    """Store a finished transcription. Pushing the same job_id again with the same content stores nothing and returns
    the first (200, Idempotent-Replayed); with other content it is refused (409 idempotency-mismatch, naming the stored
    transcript and what differs)."""
    response = await store(
        resources, body, who.actor, getattr(request.state, "request_id", None), request.method, request.url.path
    )
    request.state.audited = True
    return response


async def store(
    resources: Resources, body: TranscriptIn, actor: str, request_id: str | None, method: str, path: str
) -> Response:
    """The push itself, audited in its own statement (also called by registry.hotpath)."""
    context = {"actor": actor, "request_id": request_id, "method": method, "path": path}
    status, transcript_id, content = await _push_or_replay(resources, body, context)
    (metrics.TRANSCRIPTS_CREATED if status == 201 else metrics.TRANSCRIPT_REPLAYS).inc()
    headers = {"Location": f"/v1/transcripts/{transcript_id}"}
    if status == 200:
        headers[REPLAY_HEADER] = "true"
    return Response(content, status_code=status, headers=headers, media_type="application/json")


async def _push_or_replay(
    resources: Resources, body: TranscriptIn, context: dict[str, Any]
) -> tuple[int, uuid.UUID, bytes]:
    """(201, id, JSON) when stored now; (200, id, JSON of the first) when the job_id was stored before with the same
    content (registry.idempotency); IdempotencyMismatch when with other content."""
    for _ in range(PUSH_ATTEMPTS):  # a replayed job's transcript can be deleted in between: push again
        pushed = await _push(resources, body, context)
        if pushed is not None:
            return 201, pushed.transcript_id, transcripts.pushed_json(pushed, context["actor"])
        async with resources.pg.connection() as connection:
            found = await transcripts.stored_for_job(connection, job_id=body.job_id)
            if found is None:
                continue
            transcript_id, content = found
            digest = _same_content(body, transcript_id, orjson.loads(content))
            await transcripts.audit_replay(
                connection, job_id=body.job_id, transcript_id=transcript_id, digest=digest, **context
            )
        return 200, transcript_id, content
    raise Conflict(f"The transcript of job {body.job_id} keeps being deleted while it is pushed; try again.")


def _same_content(body: TranscriptIn, transcript_id: uuid.UUID, stored: dict[str, Any]) -> str:
    """The content digest of a replayed push; IdempotencyMismatch, naming what differs, when it is not the stored
    transcript's."""
    sent = idempotency.transcript_content({**body.model_dump(mode="json"), "text": transcripts.full_text(body)})
    kept = idempotency.transcript_content(stored)
    if sent == kept:
        return idempotency.content_digest(sent)
    differs = idempotency.differences(kept, sent)
    raise IdempotencyMismatch(
        f"Job {body.job_id} already has transcript {transcript_id} (stored {stored['created_at']}) with other "
        f"content: {idempotency.describe(differs)} differ. Nothing was changed; delete that transcript to store "
        "this one, or push under another job_id.",
        stored={
            "id": str(transcript_id),
            "href": f"/v1/transcripts/{transcript_id}",
            "created_at": stored["created_at"],
            "content_sha256": idempotency.content_digest(kept),
        },
        sent_content_sha256=idempotency.content_digest(sent),
        differs=differs,
    )


async def _push(resources: Resources, body: TranscriptIn, context: dict[str, Any]) -> transcripts.Pushed | None:
    """Store the push with others queued at the same time (registry.batching), or alone."""
    batcher = resources.pushes
    if batcher is not None:
        try:
            outcome = await batcher.push(body=body, **context)
        except WriteAlone:  # its batch failed as a whole: push it alone, below
            pass
        else:
            if isinstance(outcome, transcripts.Pushed):
                transcripts.queue_wakeups(outcome)  # the writer pushed it outside this request's context
            return _stored(outcome)
    async with resources.pg.connection() as connection:
        return _stored(await transcripts.try_push(connection, body=body, **context))


def _stored(outcome: transcripts.PushOutcome) -> transcripts.Pushed | None:
    if isinstance(outcome, transcripts.UnknownReference):
        raise InvalidRequest(str(outcome)) from outcome
    return outcome


@router.get("", name="transcript.list")
async def list_transcripts(
    session: SessionDep,
    page: PageDep,
    who: ReadAccess,
    asset_id: uuid.UUID | None = None,
    job_id: uuid.UUID | None = None,
    language: Annotated[str | None, Query(max_length=32)] = None,
    created_after: QueryDatetime | None = None,
    created_before: QueryDatetime | None = None,
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
    transcript_id: uuid.UUID, resources: ResourcesDep, who: ReadAccess, format: TranscriptFormat = "json"
) -> TranscriptOut:
    """The transcript with its segments; `format` renders it as text, srt, vtt or tsv instead."""
    if format == "json":
        return await read_json(resources, transcript_id)  # type: ignore[return-value]
    async with resources.sessions() as session:
        stored = await transcripts.get(session, transcript_id=transcript_id)
    if stored is None:
        raise NotFound(f"No transcript {transcript_id}.")
    rendered, media_type = formats.render(stored, format)
    return Response(rendered, media_type=media_type)  # type: ignore[return-value]


@router.get("/{transcript_id}/speakers", name="transcript.speakers")
async def get_speakers(transcript_id: uuid.UUID, session: SessionDep, who: ReadAccess) -> TranscriptSpeakers:
    """Who speaks in the transcript, with their talk time, most first (empty when it was not diarized)."""
    async with session.begin():
        rows = await transcripts.speakers(session, transcript_id=transcript_id)
    if rows is None:
        raise NotFound(f"No transcript {transcript_id}.")
    return TranscriptSpeakers(transcript_id=transcript_id, items=[SpeakerTalk.model_validate(r) for r in rows])


async def read_json(resources: Resources, transcript_id: uuid.UUID) -> Response:
    """The transcript as the API's JSON, rendered by the database (also called by registry.hotpath)."""
    async with resources.pg.connection() as connection:
        body = await transcripts.get_json(connection, transcript_id=transcript_id)
    if body is None:
        raise NotFound(f"No transcript {transcript_id}.")
    return Response(body, media_type="application/json")


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
