"""The two request kinds, done two ways: through the Registry's HTTP API, and as the same SQL sent straight
to PostgreSQL with psycopg (the baseline: what the database alone costs for the same work)."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg
from psycopg.types.json import Jsonb

from bench.registry.client import Connection
from bench.registry.load import Sessions
from bench.registry.sentences import distinct_sentences
from registry.schemas import SegmentOut, TranscriptOut

SEGMENTS_PER_TRANSCRIPT = 20
SEGMENT_SECONDS = 3.2
MODEL = "tiny.en"
RAW_ACTOR = "bench-raw"


class UnexpectedStatus(RuntimeError):
    """The API answered with a status the workload does not expect."""


@dataclass
class Transcripts:
    """Makes 20-segment transcripts from a pool of sentences, and remembers the ids stored (to read back)."""

    seed: int = 11
    pool_size: int = 2000
    stored: list[uuid.UUID] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.pool = distinct_sentences(self.pool_size, seed=self.seed)

    def segments(self) -> list[dict[str, Any]]:
        texts = self.rng.sample(self.pool, SEGMENTS_PER_TRANSCRIPT)
        return [
            {
                "start": round(i * SEGMENT_SECONDS, 2),
                "end": round((i + 1) * SEGMENT_SECONDS - 0.2, 2),
                "text": " " + text,
            }
            for i, text in enumerate(texts)
        ]

    def body(self) -> dict[str, Any]:
        return {"job_id": str(uuid.uuid4()), "language": "en", "model": MODEL, "segments": self.segments()}

    def pick(self) -> uuid.UUID:
        return self.rng.choice(self.stored)


def http_sessions(port: int, token: str) -> Sessions:
    async def open_connection() -> Connection:
        return Connection(port, token)

    async def close(connection: Connection) -> None:
        await connection.close()

    return Sessions(open_connection, close)


def http_write(transcripts: Transcripts) -> Any:
    """POST /v1/transcripts with a new job_id; expects 201 and keeps the id."""

    async def operation(connection: Connection) -> None:
        response = await connection.request("POST", "/v1/transcripts", orjson.dumps(transcripts.body()))
        if response.status != 201:
            raise UnexpectedStatus(f"POST /v1/transcripts: {response.status} {response.body[:300]!r}")
        transcripts.stored.append(uuid.UUID(orjson.loads(response.body)["id"]))

    return operation


def http_read(transcripts: Transcripts) -> Any:
    """GET /v1/transcripts/{id} of a stored transcript; expects 200 with its 20 segments."""

    async def operation(connection: Connection) -> None:
        response = await connection.request("GET", f"/v1/transcripts/{transcripts.pick()}")
        if response.status != 200:
            raise UnexpectedStatus(f"GET /v1/transcripts/{{id}}: {response.status} {response.body[:300]!r}")

    return operation


def raw_sessions(conninfo: str, *, autocommit: bool = False) -> Sessions:
    """psycopg connections set up as the Registry's (UTC session time zone)."""

    async def open_connection() -> psycopg.AsyncConnection[Any]:
        return await psycopg.AsyncConnection.connect(conninfo, autocommit=autocommit, options="-c timezone=UTC")

    async def close(connection: psycopg.AsyncConnection[Any]) -> None:
        await connection.close()

    return Sessions(open_connection, close)


INSERT_TRANSCRIPT = """
INSERT INTO transcripts (job_id, asset_id, text, language, model, engine, device, duration_seconds,
                         processing_seconds, timings, segment_count, created_by)
VALUES (%s, NULL, %s, %s, %s, NULL, NULL, NULL, NULL, %s, %s, %s)
ON CONFLICT (job_id) DO NOTHING RETURNING id"""
INSERT_SEGMENT = """
INSERT INTO segments (transcript_id, position, start, "end", text, words) VALUES (%s, %s, %s, %s, %s, %s)"""
UPDATE_JOB = "UPDATE jobs SET transcript_id = %s, updated_at = now() WHERE id = %s"
INSERT_AUDIT = """
INSERT INTO audit_log (actor, action, entity_type, entity_id, outcome, status_code, request_id, method, path,
                       detail)
VALUES (%s, 'transcript.create', 'transcript', %s, 'ok', 201, %s, 'POST', '/v1/transcripts', %s) RETURNING id"""
INSERT_EVENTS = """
INSERT INTO webhook_deliveries (webhook_id, event, payload)
SELECT id, 'transcript.created', %s FROM webhooks WHERE active IS true AND 'transcript.created' = ANY(events)"""
SELECT_TRANSCRIPT = """
SELECT id, job_id, asset_id, text, language, model, engine, device, duration_seconds, processing_seconds,
       timings, segment_count, created_by, created_at
FROM transcripts WHERE id = %s"""
SELECT_SEGMENTS = """
SELECT id, position, start, "end", text, words, avg_logprob, no_speech_prob
FROM segments WHERE transcript_id = %s ORDER BY position"""


def _pairs(alias: str, fields: list[str]) -> str:
    return ", ".join(f"'{name}', {alias}.\"{name}\"" for name in fields)


# GET /v1/transcripts/{id} has Postgres render the API's JSON in one query (registry/store/transcripts.py,
# get_json); built here the same way, from the API schema's field names.
SELECT_TRANSCRIPT_JSON = (
    "SELECT json_build_object("  # field names come from our own schema, never from input
    + _pairs("t", [name for name in TranscriptOut.model_fields if name != "segments"])
    + ", 'segments', COALESCE((SELECT json_agg(json_build_object("
    + _pairs("s", list(SegmentOut.model_fields))
    + ") ORDER BY s.position) FROM segments s WHERE s.transcript_id = t.id), '[]'::json))::text "
    "FROM transcripts t WHERE t.id = %s"
)


def raw_write(transcripts: Transcripts) -> Any:
    """The statements the Registry sends for one transcript push, in one transaction, without HTTP."""

    async def operation(connection: psycopg.AsyncConnection[Any]) -> None:
        body = transcripts.body()
        job_id = uuid.UUID(body["job_id"])
        text = " ".join(s["text"].strip() for s in body["segments"])
        async with connection.transaction(), connection.cursor() as cursor:
            await cursor.execute(
                INSERT_TRANSCRIPT, (job_id, text, "en", MODEL, Jsonb({}), len(body["segments"]), RAW_ACTOR)
            )
            row = await cursor.fetchone()
            assert row is not None
            transcript_id = row[0]
            await cursor.executemany(
                INSERT_SEGMENT,
                [
                    (transcript_id, position, s["start"], s["end"], s["text"], Jsonb(None))
                    for position, s in enumerate(body["segments"])
                ],
            )
            await cursor.execute(UPDATE_JOB, (transcript_id, job_id))
            await cursor.execute(
                INSERT_AUDIT,
                (RAW_ACTOR, str(transcript_id), uuid.uuid4().hex, Jsonb({"job_id": str(job_id), "replayed": False})),
            )
            await cursor.execute(
                INSERT_EVENTS,
                (
                    Jsonb(
                        {
                            "type": "transcript.created",
                            "created_at": datetime.now(UTC).isoformat(),
                            "data": {"transcript_id": str(transcript_id), "job_id": str(job_id), "asset_id": None},
                        }
                    ),
                ),
            )
            await cursor.execute(SELECT_TRANSCRIPT, (transcript_id,))
            await cursor.fetchone()
            await cursor.execute(SELECT_SEGMENTS, (transcript_id,))
            await cursor.fetchall()

    return operation


def raw_read(transcripts: Transcripts) -> Any:
    """The query the Registry sends for GET /v1/transcripts/{id}, in a transaction rolled back (as its
    session does)."""

    async def operation(connection: psycopg.AsyncConnection[Any]) -> None:
        transcript_id = transcripts.pick()
        cursor = await connection.execute(SELECT_TRANSCRIPT_JSON, (transcript_id,))
        if await cursor.fetchone() is None:
            raise LookupError(f"no transcript {transcript_id}")
        await connection.rollback()

    return operation
