"""Watch streams: one JSON event per line, resumable by resourceVersion, with BOOKMARKs and 410 when too old."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from kubesim import errors
from kubesim.store import Store
from kubesim.views import Event

Object = dict[str, Any]
INITIAL_EVENTS_END = "k8s.io/initial-events-end"


@dataclass
class WatchRequest:
    namespace: str | None
    match: Callable[[Object], bool]
    since: int | None  # None: start with the current state as ADDED events
    bookmarks: bool
    timeout: float
    initial_events_end: bool  # sendInitialEvents=true: a BOOKMARK marks the end of the initial ADDED events
    present: Callable[[Object], Object]  # the object as asked for: its apiVersion, or a Table row
    api_version: str


def _line(event_type: str, obj: Object) -> bytes:
    return json.dumps({"type": event_type, "object": obj}, separators=(",", ":")).encode() + b"\n"


def _translate(event: Event, watch: WatchRequest) -> str | None:
    """Which event this watcher sees: objects moving in or out of its selectors become ADDED or DELETED."""
    if watch.namespace is not None and event.object["metadata"].get("namespace") != watch.namespace:
        return None
    now_matches = watch.match(event.object)
    if event.type != "MODIFIED":
        return event.type if now_matches else None
    was_matching = event.old is not None and watch.match(event.old)
    if now_matches:
        return "MODIFIED" if was_matching else "ADDED"
    return "DELETED" if was_matching else None


STOP = "stop"


async def stream(
    request: web.Request,
    store: Store,
    target_resource: Any,
    watch: WatchRequest,
    bookmark_interval: float,
    open_streams: set[asyncio.Queue[Event | str]],
    opened: threading.Condition,
) -> web.StreamResponse:
    """Serve one watch until its timeout, the client leaving, or the server stopping (STOP on the queue)."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Event | str] = asyncio.Queue()

    def listener(event: Event) -> None:
        if event.resource.key == target_resource.key:
            loop.call_soon_threadsafe(queue.put_nowait, event)

    response = web.StreamResponse(headers={"Content-Type": "application/json", "Cache-Control": "no-cache, private"})
    response.enable_chunked_encoding()
    try:
        backlog, unsubscribe = store.watch_from(target_resource, watch.since, listener)
    except errors.ApiError as error:  # too old: the real server answers 200 and one ERROR event
        await response.prepare(request)
        await response.write(_line("ERROR", error.status()))
        await response.write_eof()
        return response
    await response.prepare(request)
    open_streams.add(queue)
    with opened:
        opened.notify_all()
    last_rv = watch.since or 0
    kind_and_version = {"kind": target_resource.kind, "apiVersion": watch.api_version}
    try:
        for event in backlog:
            seen = (
                _translate(event, watch)
                if watch.since is not None
                else (
                    "ADDED"
                    if watch.match(event.object)
                    and (watch.namespace is None or event.object["metadata"].get("namespace") == watch.namespace)
                    else None
                )
            )
            if seen:
                await response.write(_line(seen, watch.present(event.object)))
            last_rv = max(last_rv, event.resource_version)
        if watch.initial_events_end:
            last_rv = max(last_rv, store.resource_version)
            await response.write(_line("BOOKMARK", _bookmark(kind_and_version, last_rv, initial_end=True)))
        deadline = time.monotonic() + watch.timeout
        next_bookmark = time.monotonic() + bookmark_interval
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            wait = min(remaining, next_bookmark - time.monotonic()) if watch.bookmarks else remaining
            try:
                item = await asyncio.wait_for(queue.get(), timeout=max(wait, 0.001))
            except TimeoutError:
                if watch.bookmarks and time.monotonic() >= next_bookmark:
                    with store.lock:  # every committed event is queued by now: the bookmark cannot overtake one
                        loop.call_soon(queue.put_nowait, f"bookmark:{store.resource_version}")
                    next_bookmark = time.monotonic() + bookmark_interval
                continue
            if item == STOP:
                break
            if isinstance(item, str):
                last_rv = max(last_rv, int(item.split(":")[1]))
                await response.write(_line("BOOKMARK", _bookmark(kind_and_version, last_rv)))
                continue
            seen = _translate(item, watch)
            last_rv = item.resource_version
            if seen:
                await response.write(_line(seen, watch.present(item.object)))
    except ConnectionResetError:
        pass
    finally:
        unsubscribe()
        open_streams.discard(queue)
        with opened:
            opened.notify_all()
    with contextlib.suppress(ConnectionResetError):
        await response.write_eof()
    return response


def _bookmark(kind_and_version: Object, resource_version: int, initial_end: bool = False) -> Object:
    metadata: Object = {"resourceVersion": str(resource_version), "creationTimestamp": None}
    if initial_end:
        metadata["annotations"] = {INITIAL_EVENTS_END: "true"}
    return {"kind": kind_and_version["kind"], "apiVersion": kind_and_version["apiVersion"], "metadata": metadata}
