"""Idle waiting for background loops: a poll interval, cut short when someone sets the loop's wakeup event."""

from __future__ import annotations

import asyncio
import contextlib


async def wait_for_work(wakeup: asyncio.Event | None, seconds: float) -> None:
    """Sleep up to `seconds`, or less when `wakeup` is set (then clear it)."""
    if wakeup is None:
        await asyncio.sleep(seconds)
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(wakeup.wait(), timeout=seconds)
    wakeup.clear()
