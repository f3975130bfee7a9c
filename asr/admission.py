"""A bounded queue in front of the decoders: `concurrency` run at once, `queue_size` may wait, the rest
are refused at once (429 with Retry-After) instead of piling up."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from asr import metrics
from asr.errors import QueueFull


class Admission:
    def __init__(self, concurrency: int, queue_size: int, retry_after_seconds: int) -> None:
        self._slots = asyncio.Semaphore(concurrency)
        self.queue_size = queue_size
        self.retry_after = retry_after_seconds
        self.waiting = 0

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        if self.waiting >= self.queue_size:
            raise QueueFull(
                f"{self.waiting} transcriptions are already waiting; retry later", retry_after=self.retry_after
            )
        self.waiting += 1
        metrics.QUEUE_DEPTH.set(self.waiting)
        try:
            await self._slots.acquire()
        finally:
            self.waiting -= 1
            metrics.QUEUE_DEPTH.set(self.waiting)
        metrics.IN_PROGRESS.inc()
        try:
            yield
        finally:
            metrics.IN_PROGRESS.dec()
            self._slots.release()
