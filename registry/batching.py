"""Group commit for transcript pushes.

Each push alone is one statement, one round trip and one commit (a WAL flush). The batcher lets at most
`writers` push transactions run at once; pushes that arrive while all of them are busy wait in a queue, and the
next free writer takes them all (up to `max_batch`) into one transaction, sent as one pipeline: one round trip
and one commit for the lot. While a writer is free nothing waits (the batch is that one push), so batches form
only when pushes queue up, as when many ASR workers finish at once: then it stores more pushes per second for
less Postgres CPU each, and at a steady rate, where batches stay small, it leaves the latency tail as it was
(the figures are in bench/README.md).

A batch is all or nothing: if one statement in it fails, nothing of it is stored, and each of its pushes is
told to write itself alone (the ordinary one-statement path, with its own error and its own answer).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from dataclasses import dataclass, field
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from registry import metrics
from registry.store import transcripts

log = logging.getLogger("registry.batching")


class WriteAlone(Exception):
    """The batch this push was in failed as a whole: push it on its own."""


def _answer() -> asyncio.Future[transcripts.PushOutcome]:
    answer: asyncio.Future[transcripts.PushOutcome] = asyncio.get_running_loop().create_future()
    # a client that went away leaves its answer unread: mark a failure read, or asyncio logs it as lost
    answer.add_done_callback(lambda done: done.cancelled() or done.exception())
    return answer


@dataclass
class _Waiting:
    push: dict[str, Any]  # the keyword arguments of transcripts.push
    answer: asyncio.Future[transcripts.PushOutcome] = field(default_factory=_answer)


class PushBatcher:
    """Up to `writers` push transactions at a time, each taking up to `max_batch` queued pushes."""

    def __init__(self, pool: AsyncConnectionPool[AsyncConnection[Any]], *, writers: int, max_batch: int) -> None:
        self.pool = pool
        self.writers = max(1, writers)
        self.max_batch = max(1, max_batch)
        self._queue: list[_Waiting] = []
        self._running = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def push(self, **push: Any) -> transcripts.PushOutcome:
        """What `transcripts.push` returns for these arguments (or the UnknownReference it raises), stored with
        whatever other pushes are queued; raises WriteAlone when the batch failed and nothing of it was stored."""
        waiting = _Waiting(push)
        self._queue.append(waiting)
        if self._running < self.writers:
            self._running += 1
            # a fresh context: the writer serves many requests, none of whose request id or wakeups it may take
            task = asyncio.create_task(self._write(), name="push-writer", context=contextvars.Context())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        # shielded: a client that goes away does not cancel a push already queued with others
        return await asyncio.shield(waiting.answer)

    def _take(self) -> list[_Waiting]:
        """The next batch: queued pushes in arrival order, one per job_id (a second push of the same job waits for
        the next batch, where it replays the first), sorted by job_id so that two batches lock rows in the same
        order and cannot deadlock."""
        batch: list[_Waiting] = []
        jobs: set[Any] = set()
        rest: list[_Waiting] = []
        for waiting in self._queue:
            job_id = waiting.push["body"].job_id
            if len(batch) < self.max_batch and job_id not in jobs:
                batch.append(waiting)
                jobs.add(job_id)
            else:
                rest.append(waiting)
        self._queue = rest
        return sorted(batch, key=lambda waiting: waiting.push["body"].job_id)

    async def _write(self) -> None:
        try:
            while batch := self._take():
                await self._write_batch(batch)
        finally:
            self._running -= 1

    async def _write_batch(self, batch: list[_Waiting]) -> None:
        metrics.PUSH_BATCH_SIZE.observe(len(batch))
        try:
            async with self.pool.connection() as connection:
                if len(batch) == 1:
                    outcomes: list[transcripts.PushOutcome] = [await transcripts.try_push(connection, **batch[0].push)]
                else:
                    outcomes = await transcripts.push_many(connection, [waiting.push for waiting in batch])
        except Exception as error:  # each push retries alone and gets its own answer (or error)
            if len(batch) > 1:
                metrics.PUSH_BATCH_FAILURES.inc()
                log.warning("a batch of %d pushes failed, pushing them one by one: %s", len(batch), error)
            for waiting in batch:
                if not waiting.answer.done():
                    waiting.answer.set_exception(WriteAlone() if len(batch) > 1 else error)
            return
        for waiting, outcome in zip(batch, outcomes, strict=True):
            if not waiting.answer.done():
                waiting.answer.set_result(outcome)

    async def close(self) -> None:
        """Wait for the transactions under way (they hold pushes that clients were promised)."""
        await asyncio.gather(*self._tasks, return_exceptions=True)
