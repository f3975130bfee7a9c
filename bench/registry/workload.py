"""The two request kinds, done two ways: through the Registry's HTTP API, and by calling the Registry's own
store functions on a psycopg connection (the baseline: the same SQL and the same validation, without HTTP and
the web framework)."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from typing import Any

import orjson
import psycopg

from bench.registry.client import Connection
from bench.registry.load import Sessions
from bench.registry.sentences import distinct_sentences
from dhg_contract.schemas import TranscriptIn
from registry import pg
from registry.store import transcripts as store

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


def raw_sessions(conninfo: str) -> Sessions:
    """psycopg connections set up as the Registry's hot-path pool (autocommit, UTC, statements prepared)."""

    async def open_connection() -> psycopg.AsyncConnection[Any]:
        connection = await psycopg.AsyncConnection.connect(conninfo, autocommit=True, options="-c timezone=UTC")
        connection.prepare_threshold = pg.PREPARE_THRESHOLD
        return connection

    async def close(connection: psycopg.AsyncConnection[Any]) -> None:
        await connection.close()

    return Sessions(open_connection, close)


def raw_write(transcripts: Transcripts) -> Any:
    """The Registry's own push (registry.store.transcripts.push: one statement) on a connection, without HTTP.

    The body is validated with the API's schema here too, so service ÷ raw isolates HTTP and the framework."""

    async def operation(connection: psycopg.AsyncConnection[Any]) -> None:
        body = TranscriptIn.model_validate_json(orjson.dumps(transcripts.body()))
        pushed = await store.push(
            connection, body=body, actor=RAW_ACTOR, request_id=uuid.uuid4().hex, method="POST", path="/v1/transcripts"
        )
        if pushed is None:
            raise LookupError(f"job {body.job_id} was stored before")
        store.pushed_json(pushed, RAW_ACTOR)
        transcripts.stored.append(pushed.transcript_id)

    return operation


def raw_read(transcripts: Transcripts) -> Any:
    """The Registry's own read (registry.store.transcripts.get_json: one query) on a connection, without HTTP."""

    async def operation(connection: psycopg.AsyncConnection[Any]) -> None:
        transcript_id = transcripts.pick()
        if await store.get_json(connection, transcript_id=transcript_id) is None:
            raise LookupError(f"no transcript {transcript_id}")

    return operation
