"""A bounded queue in front of the decoders: `concurrency` run at once, `queue_size` may wait, the rest
are refused at once (429 with Retry-After) instead of piling up.

Taking a place is two steps, so an async job can be refused while its request is still open and then wait
for its turn after the 202: `ticket()` admits or refuses at once; `async with ticket:` waits for a decoder."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import TracebackType

from asr import metrics
from asr.errors import QueueFull


class Ticket:
    """A place in the queue; entering waits for a free decoder, leaving frees it."""

    def __init__(self, admission: Admission) -> None:
        self._admission = admission
        self._waiting = True
        self._running = False

    def cancel(self) -> None:
        """Give the place back without running (a job cancelled before its turn)."""
        if self._waiting:
            self._waiting = False
            self._admission._left_queue()

    async def __aenter__(self) -> Ticket:
        try:
            await self._admission._slots.acquire()
        finally:
            self.cancel()
        self._running = True
        metrics.IN_PROGRESS.inc()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._running:
            self._running = False
            metrics.IN_PROGRESS.dec()
            self._admission._slots.release()


class Admission:
    def __init__(self, concurrency: int, queue_size: int, retry_after_seconds: int) -> None:
        self._slots = asyncio.Semaphore(concurrency)
        self.queue_size = queue_size
        metrics.QUEUE_CAPACITY.set(queue_size)
        self.retry_after = retry_after_seconds
        self.waiting = 0

    def ticket(self) -> Ticket:
        """A place in the queue, or QueueFull (429) when `queue_size` already wait."""
        if self.waiting >= self.queue_size:
            raise QueueFull(
                f"{self.waiting} transcriptions are already waiting; retry later", retry_after=self.retry_after
            )
        self.waiting += 1
        metrics.QUEUE_DEPTH.set(self.waiting)
        return Ticket(self)

    def _left_queue(self) -> None:
        self.waiting -= 1
        metrics.QUEUE_DEPTH.set(self.waiting)

    @asynccontextmanager
    async def now(self) -> AsyncIterator[None]:
        """A decoder at once, held until the block ends (a live session holds one for as long as it is open), or
        QueueFull when every decoder is busy: a session cannot wait in the queue behind files."""
        if self._slots.locked():
            raise QueueFull("every decoder is busy; retry later", retry_after=self.retry_after)
        await self._slots.acquire()  # free, so this does not wait
        metrics.IN_PROGRESS.inc()
        try:
            yield
        finally:
            metrics.IN_PROGRESS.dec()
            self._slots.release()

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        async with self.ticket():
            yield
