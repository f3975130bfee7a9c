"""Kopf embedded in a thread, for tests that run an operator against the stand-in."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator

import kopf


@contextlib.contextmanager
def operator(registry: kopf.OperatorRegistry, namespaces: tuple[str, ...] = ("default",)) -> Iterator[None]:
    """Kopf in a thread (no signal handlers there), standalone, stopped through its stop flag."""
    ready, stop = threading.Event(), threading.Event()

    def run() -> None:
        asyncio.run(
            kopf.operator(
                registry=registry, standalone=True, namespaces=list(namespaces), ready_flag=ready, stop_flag=stop
            )
        )

    thread = threading.Thread(target=run, name="kopf", daemon=True)
    thread.start()
    assert ready.wait(30), "Kopf did not start"
    try:
        yield
    finally:
        stop.set()
        thread.join(30)
