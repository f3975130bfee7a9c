"""A second baseline: the same effects as the Registry's write and read, each in ONE statement (one round trip,
autocommit), to show how much of the database cost is round trips rather than work.

The write inserts the transcript, its 20 segments (from arrays, via unnest), the audit row and the webhook
outbox rows, and links the job, then returns the new ids (the Registry's write sends ~9 statements); the read
is the Registry's own query, without the transaction its session opens around it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from bench.registry.workload import MODEL, RAW_ACTOR, SELECT_TRANSCRIPT_JSON, Transcripts

WRITE = """
WITH t AS (
    INSERT INTO transcripts (job_id, text, language, model, timings, segment_count, created_by)
    VALUES (%(job_id)s, %(text)s, 'en', %(model)s, '{}', %(count)s, %(actor)s)
    ON CONFLICT (job_id) DO NOTHING RETURNING id, created_at),
s AS (
    INSERT INTO segments (transcript_id, position, start, "end", text)
    SELECT t.id, u.position, u.start, u."end", u.text
    FROM t, unnest(%(positions)s::int[], %(starts)s::float8[], %(ends)s::float8[], %(texts)s::text[])
         AS u(position, start, "end", text)
    RETURNING id, position),
j AS (UPDATE jobs SET transcript_id = t.id, updated_at = now() FROM t WHERE jobs.id = %(job_id)s),
a AS (
    INSERT INTO audit_log (actor, action, entity_type, entity_id, outcome, status_code, request_id, method, path,
                           detail)
    SELECT %(actor)s, 'transcript.create', 'transcript', t.id::text, 'ok', 201, %(request_id)s, 'POST',
           '/v1/transcripts', %(detail)s FROM t),
e AS (
    INSERT INTO webhook_deliveries (webhook_id, event, payload)
    SELECT w.id, 'transcript.created', %(payload)s FROM webhooks w, t
    WHERE w.active AND 'transcript.created' = ANY(w.events))
SELECT t.id, t.created_at, (SELECT array_agg(s.id ORDER BY s.position) FROM s) FROM t"""


def write(transcripts: Transcripts) -> Any:
    """One transcript push as one statement (on an autocommit connection: one round trip)."""

    async def operation(connection: psycopg.AsyncConnection[Any]) -> None:
        body = transcripts.body()
        segments = body["segments"]
        job_id = uuid.UUID(body["job_id"])
        cursor = await connection.execute(
            WRITE,
            {
                "job_id": job_id,
                "text": " ".join(s["text"].strip() for s in segments),
                "model": MODEL,
                "count": len(segments),
                "actor": RAW_ACTOR,
                "positions": list(range(len(segments))),
                "starts": [s["start"] for s in segments],
                "ends": [s["end"] for s in segments],
                "texts": [s["text"] for s in segments],
                "request_id": uuid.uuid4().hex,
                "detail": Jsonb({"job_id": str(job_id), "replayed": False}),
                "payload": Jsonb(
                    {
                        "type": "transcript.created",
                        "created_at": datetime.now(UTC).isoformat(),
                        "data": {"job_id": str(job_id)},
                    }
                ),
            },
        )
        if await cursor.fetchone() is None:
            raise LookupError(f"job {job_id} was stored before")

    return operation


def read(transcripts: Transcripts) -> Any:
    """The Registry's read query alone (autocommit: no BEGIN and ROLLBACK around it, one round trip)."""

    async def operation(connection: psycopg.AsyncConnection[Any]) -> None:
        transcript_id = transcripts.pick()
        cursor = await connection.execute(SELECT_TRANSCRIPT_JSON, (transcript_id,))
        if await cursor.fetchone() is None:
            raise LookupError(f"no transcript {transcript_id}")

    return operation
