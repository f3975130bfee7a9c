"""Idle waiting for the worker loops: a poll interval, cut short when a request queued work for them.

A request that queues work (segments to embed, webhook deliveries to send) says so with `queued(loop)`; once
the request has answered successfully, the middleware wakes just those loops of this process. Other processes
and replicas find the same work at their next poll, so a wakeup is only a shortcut, never the only signal.
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from typing import Literal

Loop = Literal["embeddings", "webhooks"]
_queued: ContextVar[set[Loop] | None] = ContextVar("dhg_queued_work", default=None)


def queued(loop: Loop) -> None:
    """The current request queued work for `loop` (a no-op outside a request)."""
    wanted = _queued.get()
    if wanted is not None:
        wanted.add(loop)


def collect() -> tuple[set[Loop], Token[set[Loop] | None]]:
    """Start collecting the loops the current request queues work for; reset with the token."""
    wanted: set[Loop] = set()
    return wanted, _queued.set(wanted)


def reset(token: Token[set[Loop] | None]) -> None:
    _queued.reset(token)
