"""Transcripts and their segments. Writing is idempotent on `job_id`."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, NamedTuple

import orjson
import psycopg
from psycopg import AsyncConnection
from psycopg.types.json import Jsonb
from pydantic import TypeAdapter
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dhg_contract.schemas import SegmentIn, SegmentOut, TranscriptIn, TranscriptOut
from registry import wakeup
from registry.models import Job, Segment, Transcript

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
    Segment.speaker,
]


class UnknownReference(ValueError):
    """The transcript names an asset that is not stored."""


def full_text(body: TranscriptIn) -> str:
    if body.text is not None:
        return body.text
    return " ".join([segment.text.strip() for segment in body.segments]).strip()


_SEGMENTS: TypeAdapter[list[SegmentIn]] = TypeAdapter(list[SegmentIn])


def _columns(body: TranscriptIn) -> dict[str, Any]:
    """A push's own transcript columns: the same values go into the INSERT and into the answer."""
    return {
        **body.model_dump(exclude={"segments", "text"}),
        "text": full_text(body),
        "segment_count": len(body.segments),
    }


class Pushed(NamedTuple):
    """What a push stored: the new row's id, time and segment ids (in order), and the values it was given
    (its columns and segments as plain data), from which the answer is built without dumping the body again."""

    transcript_id: uuid.UUID
    created_at_json: str  # as the database renders it in JSON (so a push and a read answer the same bytes)
    segment_ids: list[uuid.UUID]
    columns: dict[str, Any]
    segments: list[dict[str, Any]]
    deliveries: int = 0  # webhook deliveries queued


# The write hot path as ONE data-modifying statement: the transcript, its segments, the job link, the audit row
# and the webhook outbox rows land together or not at all (a statement is atomic on its own). Concurrent pushes
# of one job_id serialise on the unique index: the loser's INSERT waits for the winner's commit, then does
# nothing, and the caller replays the winner's row with _REPLAY.
_PUSH = """
WITH chk AS (
    SELECT %(asset_id)s::uuid IS NULL OR EXISTS (SELECT 1 FROM assets WHERE id = %(asset_id)s::uuid) AS asset_ok
), t AS (
    INSERT INTO transcripts (job_id, asset_id, text, language, language_probability, model, engine, device,
                             duration_seconds, processing_seconds, timings, segment_count, created_by)
    SELECT %(job_id)s::uuid, %(asset_id)s::uuid, %(text)s::text, %(language)s::text,
           %(language_probability)s::float8, %(model)s::text,
           %(engine)s::text, %(device)s::text, %(duration_seconds)s::float8, %(processing_seconds)s::float8,
           %(timings)s::jsonb, %(segment_count)s::int, %(actor)s::text
    FROM chk WHERE chk.asset_ok
    ON CONFLICT (job_id) DO NOTHING
    RETURNING id, job_id, asset_id, created_at
), s AS (
    INSERT INTO segments (transcript_id, position, start, "end", text, words, avg_logprob, no_speech_prob, speaker)
    SELECT t.id, e.ord - 1, (e.seg->>'start')::float8, (e.seg->>'end')::float8, e.seg->>'text',
           NULLIF(e.seg->'words', 'null'::jsonb), (e.seg->>'avg_logprob')::float8, (e.seg->>'no_speech_prob')::float8,
           e.seg->>'speaker'
    FROM t, jsonb_array_elements(%(segments)s::jsonb) WITH ORDINALITY AS e(seg, ord)
    RETURNING id, position
), j AS (
    UPDATE jobs SET transcript_id = t.id, updated_at = now() FROM t WHERE jobs.id = t.job_id
), a AS (
    INSERT INTO audit_log (actor, action, entity_type, entity_id, outcome, status_code, request_id, method, path,
                           detail)
    SELECT %(actor)s::text, 'transcript.create', 'transcript', t.id::text, 'ok', 201, %(request_id)s::text,
           %(method)s::text, %(path)s::text, jsonb_build_object('job_id', t.job_id, 'replayed', false)
    FROM t
), w AS (
    INSERT INTO webhook_deliveries (webhook_id, event, payload)
    SELECT h.id, 'transcript.created', jsonb_build_object(
               'type', 'transcript.created', 'created_at', t.created_at,
               'data', jsonb_build_object('transcript_id', t.id, 'job_id', t.job_id, 'asset_id', t.asset_id))
    FROM t, webhooks h WHERE h.active AND 'transcript.created' = ANY(h.events)
    RETURNING 1
)
SELECT chk.asset_ok, t.id, to_json(t.created_at)::text, (SELECT array_agg(s.id ORDER BY s.position) FROM s),
       (SELECT count(*) FROM w)
FROM chk LEFT JOIN t ON true
"""


def _without_unset_word_speakers(segments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Words keep a `speaker` key only when they have one: transcripts without speakers store (and answer) their words
    as before, and a long transcript's JSONB holds no `"speaker": null` per word."""
    for segment in segments:
        for word in segment.get("words") or ():
            if word.get("speaker") is None:
                word.pop("speaker", None)
    return segments


class _Statement(NamedTuple):
    params: dict[str, Any]
    columns: dict[str, Any]  # the values the answer is built from
    segments: list[dict[str, Any]]


def _statement(body: TranscriptIn, actor: str, request_id: str | None, method: str, path: str) -> _Statement:
    columns = _columns(body)
    segments = _without_unset_word_speakers(_SEGMENTS.dump_python(body.segments))
    params = {
        **columns,
        "timings": Jsonb(body.timings),
        "segments": orjson.dumps(segments).decode(),
        "actor": actor,
        "request_id": request_id,
        "method": method,
        "path": path,
    }
    return _Statement(params, columns, segments)


def _pushed(row: Any, statement: _Statement) -> Pushed | None:
    """What one push statement returned: a Pushed, None when the job_id was stored before."""
    assert row is not None
    asset_ok, transcript_id, created_at, segment_ids, deliveries = row
    if not asset_ok:
        raise UnknownReference(f"asset {statement.params['asset_id']} does not exist")
    if transcript_id is None:
        return None
    return Pushed(transcript_id, created_at, segment_ids or [], statement.columns, statement.segments, deliveries)


def queue_wakeups(pushed: Pushed) -> None:
    """Tell the request's middleware which background loops the push gave work to."""
    if pushed.segment_ids:
        wakeup.queued("embeddings")
    if pushed.deliveries:
        wakeup.queued("webhooks")


async def push(
    connection: AsyncConnection[Any], *, body: TranscriptIn, actor: str, request_id: str | None, method: str, path: str
) -> Pushed | None:
    """Store the transcript in one statement (autocommit connection); None when its job_id was stored before.

    Raises UnknownReference when it names an asset that is not stored."""
    statement = _statement(body, actor, request_id, method, path)
    try:
        row = await (await connection.execute(_PUSH, statement.params)).fetchone()
    except psycopg.errors.ForeignKeyViolation as error:  # the asset was deleted while this statement ran
        raise UnknownReference(f"asset {body.asset_id} does not exist") from error
    pushed = _pushed(row, statement)
    if pushed is not None:
        queue_wakeups(pushed)
    return pushed


PushOutcome = Pushed | UnknownReference | None


async def try_push(connection: AsyncConnection[Any], **arguments: Any) -> PushOutcome:
    """`push`, with the UnknownReference it would raise returned instead (one outcome per push, as push_many)."""
    try:
        return await push(connection, **arguments)
    except UnknownReference as error:
        return error


async def push_many(connection: AsyncConnection[Any], pushes: list[dict[str, Any]]) -> list[PushOutcome]:
    """Several pushes (each the keyword arguments of `push`) in ONE transaction, sent as one pipeline: one round
    trip and one commit (one WAL flush) for all of them. Each gets what `push` would have returned, or the
    UnknownReference it would have raised; the caller queues the wakeups (this may run outside its request).

    All or nothing: if any statement fails, nothing is stored and the error propagates (push them one by one
    then, to give each its own answer)."""
    statements = [_statement(**one) for one in pushes]
    async with connection.transaction(), connection.pipeline():
        cursors = [await connection.execute(_PUSH, one.params) for one in statements]
        rows = [await cursor.fetchone() for cursor in cursors]
    outcomes: list[PushOutcome] = []
    for row, one in zip(rows, statements, strict=True):
        try:
            outcomes.append(_pushed(row, one))
        except UnknownReference as error:
            outcomes.append(error)
    return outcomes


def pushed_json(pushed: Pushed, actor: str) -> bytes:
    """The API's JSON (TranscriptOut) of a transcript just pushed, from what it was given and the returned ids."""
    segments = [
        {**segment, "id": segment_id, "position": position}
        for position, (segment, segment_id) in enumerate(zip(pushed.segments, pushed.segment_ids, strict=True))
    ]
    values = {
        **pushed.columns,
        "id": pushed.transcript_id,
        "created_by": actor,
        "created_at": orjson.Fragment(pushed.created_at_json),
        "segments": segments,
    }
    return orjson.dumps({name: values[name] for name in TranscriptOut.model_fields})


def _pairs(alias: str, fields: list[str]) -> str:
    return ", ".join(f"'{name}', {alias}.\"{name}\"" for name in fields)


# The read hot path: Postgres renders the whole transcript as JSON text in one query, with exactly the
# fields of the API schema (TranscriptOut, SegmentOut), so the server only passes bytes through.
# The SQL is built once from our own schema's field names, never from input.
_TRANSCRIPT_FIELDS = [name for name in TranscriptOut.model_fields if name != "segments"]
_SEGMENT_FIELDS = list(SegmentOut.model_fields)
_JSON_EXPRESSION = (
    f"json_build_object({_pairs('t', _TRANSCRIPT_FIELDS)}, 'segments', COALESCE(("  # noqa: S608
    f"SELECT json_agg(json_build_object({_pairs('s', _SEGMENT_FIELDS)}) ORDER BY s.position) "
    "FROM segments s WHERE s.transcript_id = t.id), '[]'::json))::text"
)
_GET_JSON = f"SELECT {_JSON_EXPRESSION} FROM transcripts t WHERE t.id = %s"  # noqa: S608

_GET_JSON_BY_JOB = f"SELECT t.id, {_JSON_EXPRESSION} FROM transcripts t WHERE t.job_id = %s"  # noqa: S608
# A replayed push, audited: status 200, replayed, with the content digest both sides agreed on.
_AUDIT_REPLAY = """
INSERT INTO audit_log (actor, action, entity_type, entity_id, outcome, status_code, request_id, method, path, detail)
VALUES (%(actor)s::text, 'transcript.create', 'transcript', %(transcript_id)s::text, 'ok', 200, %(request_id)s::text,
        %(method)s::text, %(path)s::text,
        jsonb_build_object('job_id', %(job_id)s::uuid, 'replayed', true, 'content_sha256', %(digest)s::text))
"""


async def stored_for_job(connection: AsyncConnection[Any], *, job_id: uuid.UUID) -> tuple[uuid.UUID, bytes] | None:
    """The transcript stored for `job_id` as the API's JSON, or None."""
    row = await (await connection.execute(_GET_JSON_BY_JOB, (job_id,))).fetchone()
    return None if row is None else (row[0], str(row[1]).encode())


async def audit_replay(
    connection: AsyncConnection[Any],
    *,
    job_id: uuid.UUID,
    transcript_id: uuid.UUID,
    digest: str,
    actor: str,
    request_id: str | None,
    method: str,
    path: str,
) -> None:
    params = {"job_id": job_id, "transcript_id": transcript_id, "digest": digest, "actor": actor}
    await connection.execute(_AUDIT_REPLAY, params | {"request_id": request_id, "method": method, "path": path})


async def get_json(connection: AsyncConnection[Any], *, transcript_id: uuid.UUID) -> bytes | None:
    """The transcript as the API's JSON (TranscriptOut), rendered by the database; None when absent."""
    row = await (await connection.execute(_GET_JSON, (transcript_id,))).fetchone()
    return None if row is None else str(row[0]).encode()


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


async def speakers(session: AsyncSession, *, transcript_id: uuid.UUID) -> list[dict[str, Any]] | None:
    """Each speaker of a transcript with their talk time, segment count and first words' time, most talk first;
    None when there is no such transcript."""
    if await session.scalar(select(Transcript.id).where(Transcript.id == transcript_id)) is None:
        return None
    rows = await session.execute(
        select(
            Segment.speaker,
            func.sum(Segment.end - Segment.start).label("talk_seconds"),
            func.count().label("segments"),
            func.min(Segment.start).label("first_start"),
        )
        .where(Segment.transcript_id == transcript_id, Segment.speaker.is_not(None))
        .group_by(Segment.speaker)
        .order_by(func.sum(Segment.end - Segment.start).desc(), Segment.speaker)
    )
    return [dict(row) for row in rows.mappings()]


async def remove(session: AsyncSession, *, transcript_id: uuid.UUID) -> uuid.UUID | None:
    """Delete a transcript (its segments cascade); returns its job_id, or None when absent."""
    job_id = (
        await session.execute(delete(Transcript).where(Transcript.id == transcript_id).returning(Transcript.job_id))
    ).scalar_one_or_none()
    if job_id is not None:
        await session.execute(update(Job).where(Job.transcript_id == transcript_id).values(transcript_id=None))
    return job_id
