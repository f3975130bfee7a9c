"""Wait for the API's state to satisfy a predicate, woken by its own change events (no polling sleeps)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from kubesim.server import KubeApiServer

Object = dict[str, Any]
T = TypeVar("T")


def wait_until(api: KubeApiServer, check: Callable[[], T], timeout: float = 30, what: str = "the condition") -> T:
    """`check()`'s first truthy result, re-checked after each committed change; AssertionError after `timeout`."""
    changed = threading.Event()
    unsubscribe = api.store.subscribe(lambda _event: changed.set())
    deadline = time.monotonic() + timeout
    try:
        while True:
            changed.clear()
            result = check()
            if result:
                return result
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"{what} did not hold within {timeout}s (last: {result!r})")
            changed.wait(remaining)
    finally:
        unsubscribe()


def wait_for(
    api: KubeApiServer,
    group: str,
    plural: str,
    namespace: str | None,
    name: str,
    predicate: Callable[[Object | None], bool],
    timeout: float = 30,
) -> Object | None:
    """The object (None once absent) as soon as `predicate` holds for it."""

    def check() -> tuple[Object | None] | None:
        resource = api.store.registry.get(group, plural)
        obj = api.store.find(resource, namespace, name) if resource else None
        return (obj,) if predicate(obj) else None

    found = wait_until(api, check, timeout, what=f"{plural}.{group} {namespace}/{name}")
    assert found is not None
    return found[0]


def events_about(api: KubeApiServer, name: str, namespace: str = "default") -> list[Object]:
    """core/v1 Events whose involvedObject has that name."""
    resource = api.store.registry.get("", "events")
    assert resource is not None
    items, _ = api.store.list(resource, namespace, lambda e: e["involvedObject"].get("name") == name)
    return items


def condition(obj: Object | None, type_: str) -> Object | None:
    """The status condition of that type, if any."""
    return next((c for c in ((obj or {}).get("status") or {}).get("conditions") or [] if c["type"] == type_), None)
