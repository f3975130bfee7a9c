"""Work the Registry process does beside serving: embeddings, webhook deliveries, gauges of stored totals."""

from __future__ import annotations

import asyncio
import logging
from typing import get_args

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.pool import QueuePool

from dhg_core.failures import RepeatedFailures
from registry import embeddings, heap, metrics, wakeup
from registry.models import Asset, Segment, Transcript
from registry.resources import Resources
from registry.settings import Settings
from registry.storage import open_storage
from registry.store import search, webhooks
from registry.webhooks import dispatcher

log = logging.getLogger("registry.background")


async def estimated_rows(session: AsyncSession, table: str) -> int:
    """The planner's row count of a big table (kept current by autovacuum's ANALYZE): counting hundreds of
    thousands of rows every refresh kept a core busy and showed up in the API's p99 (bench/README.md).
    Exact when the table was never analysed yet."""
    estimate = await session.scalar(
        text("SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(:t)"), {"t": table}
    )
    if estimate is None or estimate < 0:
        return await session.scalar(text(f'SELECT count(*) FROM "{table}"')) or 0  # noqa: S608 (our own table name)
    return int(estimate)


async def refresh_stats(sessions: async_sessionmaker[AsyncSession], resources: Resources | None = None) -> None:
    async with sessions() as session:
        assets, asset_bytes = (
            await session.execute(select(func.count(), func.coalesce(func.sum(Asset.size_bytes), 0)).select_from(Asset))
        ).one()
        metrics.ASSETS.set(assets)
        metrics.ASSET_BYTES.set(asset_bytes)
        metrics.TRANSCRIPTS.set(await session.scalar(select(func.count()).select_from(Transcript)) or 0)
        metrics.SEGMENTS.set(await estimated_rows(session, Segment.__tablename__))
        metrics.EMBEDDING_BACKLOG.set(await search.embedding_backlog(session))
        metrics.WEBHOOK_PENDING.set(await webhooks.pending_count(session))
    pool = resources.engine.pool if resources is not None else None
    if isinstance(pool, QueuePool):  # the engine's (AsyncAdaptedQueuePool)
        metrics.DB_POOL.labels("size").set(pool.size())
        metrics.DB_POOL.labels("checked_out").set(pool.checkedout())
        metrics.DB_POOL.labels("idle").set(pool.checkedin())
        metrics.DB_POOL.labels("overflow").set(max(pool.overflow(), 0))


async def _stats_loop(resources: Resources) -> None:
    failures = RepeatedFailures("refreshing the stored-total gauges", log)
    while True:
        try:
            await refresh_stats(resources.sessions, resources)
        except Exception as error:  # gauges are best effort; the next round tries again
            metrics.DATABASE_UP.set(0)
            failures.failed(error)
        else:
            metrics.DATABASE_UP.set(1)
            failures.succeeded()
        await asyncio.sleep(resources.settings.stats_interval_seconds)


async def _embedding_loop(resources: Resources, settings: Settings) -> None:
    try:
        embedder = resources.embedder = await asyncio.to_thread(embeddings.load_embedder, settings)
        resources.queries = embeddings.QueryEncoder(embedder) if embedder is not None else None
    finally:
        resources.embedder_loading = False  # loaded, absent or failed: semantic search's answer is settled
    heap.settle()  # the model's objects live as long as the process
    metrics.EMBEDDER_AVAILABLE.set(1 if embedder else 0)
    if embedder is not None and settings.embeddings_worker:
        await embeddings.run_worker(resources.sessions, embedder, settings, resources.wakeups["embeddings"])


def start(resources: Resources) -> list[asyncio.Task[None]]:
    settings = resources.settings
    resources.storage = open_storage(settings)
    resources.embedder = resources.queries = None
    resources.embedder_loading = settings.embeddings != "off"  # until the loop below has tried
    resources.wakeups = {loop: asyncio.Event() for loop in get_args(wakeup.Loop)}
    tasks = [asyncio.create_task(_stats_loop(resources), name="stats")]
    if settings.embeddings != "off":
        tasks.append(asyncio.create_task(_embedding_loop(resources, settings), name="embeddings"))
    if settings.webhooks_enabled:
        tasks.append(
            asyncio.create_task(
                dispatcher.run(resources.sessions, settings, resources.wakeups["webhooks"]), name="webhooks"
            )
        )
    return tasks


async def stop(resources: Resources) -> None:
    """Nothing to flush: every piece of background work is durable in the database."""
