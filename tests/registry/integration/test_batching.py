"""registry.batching: pushes that arrive together share a transaction, and each still gets its own answer.

The app runs in the test's event loop on a real PostgreSQL with one push writer, so pushes sent at once queue
behind the first and are written together. A trigger that refuses one segment text makes a real statement
fail inside a batch.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest

from registry import metrics, migrate
from registry.app import create_app
from registry.pg import conninfo
from registry.settings import Settings
from tests.registry.integration.test_transcripts import transcript

ADMIN = "batch-admin-" + uuid.uuid4().hex
AS_ADMIN = {"Authorization": f"Bearer {ADMIN}"}


@dataclass
class Registry:
    client: httpx.AsyncClient
    database: str

    async def push_all(self, bodies: list[dict]) -> list[httpx.Response]:
        return await asyncio.gather(*(self.client.post("/v1/transcripts", json=b, headers=AS_ADMIN) for b in bodies))

    def query(self, sql: str, *params: object) -> list[tuple]:
        with psycopg.connect(self.database, autocommit=True) as connection:
            return connection.execute(sql, params).fetchall()

    def run(self, sql: str) -> None:
        with psycopg.connect(self.database, autocommit=True) as connection:
            connection.execute(sql)


def batch_figures() -> tuple[float, float, float]:
    """(transactions, pushes in them, failed batches) so far, from the Prometheus metrics."""
    samples = {s.name: s.value for s in metrics.PUSH_BATCH_SIZE.collect()[0].samples if "le" not in s.labels}
    failures = next(s.value for s in metrics.PUSH_BATCH_FAILURES.collect()[0].samples if s.name.endswith("_total"))
    return samples["dhg_registry_push_batch_size_count"], samples["dhg_registry_push_batch_size_sum"], failures


@pytest.fixture
async def registry(empty_database: str, tmp_path: Path) -> AsyncIterator[Registry]:
    migrate.upgrade(empty_database)
    settings = Settings(
        database_url=empty_database,
        storage_dir=tmp_path,
        admin_token=ADMIN,
        embeddings="off",
        webhooks_enabled=False,
        push_writers=1,
    )
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)  # a 500 is an answer here
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://r") as client:
        yield Registry(client, conninfo(empty_database))


async def test_pushes_sent_together_share_transactions_and_each_gets_its_own_answer(registry: Registry) -> None:
    bodies = [transcript(text=f"transcript number {i}") for i in range(24)]
    before = batch_figures()
    answers = await registry.push_all(bodies)

    assert [a.status_code for a in answers] == [201] * 24, answers[0].text
    transactions, pushes, _ = (after - start for after, start in zip(batch_figures(), before, strict=True))
    assert pushes == 24
    assert transactions < 24  # some pushes were written together (one writer, 24 at once)
    for body, answer in zip(bodies, answers, strict=True):
        stored = answer.json()
        assert (stored["job_id"], stored["text"]) == (body["job_id"], body["text"])
        read = await registry.client.get(answer.headers["location"], headers=AS_ADMIN)
        assert read.json() == stored  # the answer is what was stored
    ids = {a.json()["id"] for a in answers}
    assert len(ids) == 24
    rows = registry.query(
        "SELECT count(*), count(DISTINCT request_id) FROM audit_log"
        " WHERE action = 'transcript.create' AND status_code = 201"
    )
    assert rows == [(24, 24)]  # one audit row per push, with its own request id
    assert registry.query("SELECT count(*) FROM segments") == [(24 * len(bodies[0]["segments"]),)]


async def test_the_same_job_pushed_several_times_at_once_is_stored_once(registry: Registry) -> None:
    job = transcript(text="the one job")
    bodies = [transcript() for _ in range(6)] + [job] * 4
    answers = await registry.push_all(bodies)

    mine = answers[6:]
    assert sorted(a.status_code for a in mine) == [200, 200, 200, 201]
    assert all(a.json() == mine[0].json() for a in mine)  # every replay answers the stored transcript
    assert all(a.headers.get("idempotent-replayed") == "true" for a in mine if a.status_code == 200)
    assert registry.query("SELECT count(*) FROM transcripts WHERE job_id = %s", job["job_id"]) == [(1,)]
    assert [a.status_code for a in answers[:6]] == [201] * 6


async def test_a_batch_that_fails_is_pushed_one_by_one_and_loses_nothing(registry: Registry) -> None:
    registry.run(
        "CREATE FUNCTION refuse_boom() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF NEW.text LIKE '%boom%' THEN RAISE EXCEPTION 'boom refused'; END IF; RETURN NEW; END $$"
    )
    registry.run("CREATE TRIGGER refuse_boom BEFORE INSERT ON segments FOR EACH ROW EXECUTE FUNCTION refuse_boom()")
    boom = transcript(segments=[{"start": 0.0, "end": 1.0, "text": " boom"}])
    good = [transcript() for _ in range(12)]
    _, _, failures_before = batch_figures()
    answers = await registry.push_all([*good, boom])  # queued together: the boom fails their batch

    assert batch_figures()[2] == failures_before + 1
    assert [a.status_code for a in answers[:12]] == [201] * 12  # each pushed again on its own
    assert answers[12].status_code == 500
    assert answers[12].headers["content-type"].startswith("application/problem+json")
    stored = {row[0] for row in registry.query("SELECT job_id::text FROM transcripts")}
    assert stored == {body["job_id"] for body in good}  # nothing of the failed push, none of the others lost
    refused = registry.query("SELECT outcome, status_code FROM audit_log WHERE status_code = 500")
    assert refused == [("error", 500)]
