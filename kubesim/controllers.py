"""Controllers run as tasks in the server's loop: each wakes on store events and re-reads the whole state.

Re-reading everything on each wake keeps each controller a pure "observe → act" sweep, as a level-triggered
Kubernetes controller is; the test clusters are small enough for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable
from typing import Any

from kubesim import errors
from kubesim.resources import ResourceType
from kubesim.store import Store
from kubesim.timestamps import now
from kubesim.views import Event

Object = dict[str, Any]
log = logging.getLogger(__name__)


class Controller:
    """Base: `sweep()` runs after every batch of store events (and once at start)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.wake_after: Callable[[float], object] = lambda _seconds: None  # a timed sweep (deadlines)

    def interested(self, event: Event) -> bool:
        return True

    async def sweep(self) -> None:
        raise NotImplementedError

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        wake = asyncio.Event()

        def listener(event: Event) -> None:
            if self.interested(event):
                loop.call_soon_threadsafe(wake.set)

        unsubscribe = self.store.subscribe(listener)
        self.wake_after = lambda seconds: loop.call_later(seconds, wake.set)
        try:
            wake.set()
            while True:
                await wake.wait()
                wake.clear()
                try:
                    await self.sweep()
                except errors.ApiError as error:  # a race with another writer: sweep again
                    log.debug("%s: %s", type(self).__name__, error.message)
                    wake.set()
                    await asyncio.sleep(0.01)
                except Exception:  # a bug in the simulation: loud in the test's log, but keep the cluster going
                    log.exception("%s failed a sweep", type(self).__name__)
        finally:
            unsubscribe()


def resource(store: Store, group: str, plural: str) -> ResourceType:
    found = store.registry.get(group, plural)
    assert found is not None, (group, plural)
    return found


def tolerate_gone(action: Callable[[], Any]) -> Any:
    """Run a write that may lose a race with a deletion (404) or another writer (409): the next sweep retries."""
    try:
        return action()
    except errors.ApiError as error:
        if error.code not in (404, 409):
            raise
        return None


def record_event(
    store: Store,
    involved: Object,
    reason: str,
    message: str,
    *,
    type_: str = "Normal",
    component: str,
    field_path: str = "",
    host: str = "",
) -> None:
    """A core/v1 Event about an object, named as client-go's recorder names them (`<name>.<hex>`); a kubelet's
    events about a container carry its fieldPath and the node as source.host."""
    meta = involved["metadata"]
    namespace = meta.get("namespace") or "default"
    timestamp = now()
    event = {
        "metadata": {"name": f"{meta['name']}.{secrets.token_hex(8)}", "namespace": namespace},
        "involvedObject": {
            "apiVersion": involved.get("apiVersion"),
            "kind": involved.get("kind"),
            "name": meta["name"],
            "namespace": meta.get("namespace"),
            "uid": meta["uid"],
            "resourceVersion": meta.get("resourceVersion"),
        },
        "reason": reason,
        "message": message,
        "type": type_,
        "source": {"component": component, **({"host": host} if host else {})},
        "reportingComponent": component,
        "reportingInstance": "",
        "firstTimestamp": timestamp,
        "lastTimestamp": timestamp,
        "count": 1,
        "eventTime": None,
    }
    if field_path:
        event["involvedObject"]["fieldPath"] = field_path
    with contextlib.suppress(errors.ApiError):
        store.create(resource(store, "", "events"), namespace, event)


def remove_finalizer(store: Store, rtype: ResourceType, obj: Object, finalizer: str) -> None:
    def drop(current: Object) -> Object:
        current["metadata"]["finalizers"] = [f for f in current["metadata"].get("finalizers", []) if f != finalizer]
        return current

    meta = obj["metadata"]
    tolerate_gone(lambda: store.patch(rtype, meta.get("namespace"), meta["name"], drop))


class GarbageCollector(Controller):
    """ownerReference garbage collection (Background, Foreground, Orphan) and namespace deletion."""

    def interested(self, event: Event) -> bool:
        """Deletions, and objects whose owner is gone: the only changes that give it work (a sweep reads every
        object, so waking on each change made a burst of creates quadratic)."""
        meta = event.object["metadata"]
        if event.type == "DELETED" or meta.get("deletionTimestamp"):
            return True
        if event.old is not None and event.old["metadata"].get("ownerReferences") != meta.get("ownerReferences"):
            return True  # a dependent let go of an owner that may be waiting for it (foreground deletion)
        return any(not self.store.has_uid(ref.get("uid", "")) for ref in meta.get("ownerReferences") or [])

    async def sweep(self) -> None:
        snapshot = list(self.store.everything(copies=False))  # read only: writes go through the store
        live = {obj["metadata"]["uid"] for _r, obj in snapshot}
        dependents: dict[str, list[tuple[ResourceType, Object]]] = {}
        for rtype, obj in snapshot:
            for ref in obj["metadata"].get("ownerReferences") or []:
                dependents.setdefault(ref.get("uid", ""), []).append((rtype, obj))
        for rtype, obj in snapshot:
            meta = obj["metadata"]
            if meta.get("deletionTimestamp"):
                self._finish_deletion(rtype, obj, dependents.get(meta["uid"], []), snapshot)
            refs = meta.get("ownerReferences") or []
            if refs and not meta.get("deletionTimestamp") and all(r.get("uid") not in live for r in refs):
                tolerate_gone(
                    lambda r=rtype, m=meta: self.store.delete(
                        r, m.get("namespace"), m["name"], {"propagationPolicy": "Background"}
                    )
                )

    def _finish_deletion(
        self,
        rtype: ResourceType,
        obj: Object,
        dependents: list[tuple[ResourceType, Object]],
        snapshot: list[tuple[ResourceType, Object]],
    ) -> None:
        meta = obj["metadata"]
        finalizers = meta.get("finalizers") or []
        if "orphan" in finalizers:
            for dependent_type, dependent in dependents:
                self._drop_owner(dependent_type, dependent, meta["uid"])
            remove_finalizer(self.store, rtype, obj, "orphan")
        elif "foregroundDeletion" in finalizers:
            if not dependents:
                remove_finalizer(self.store, rtype, obj, "foregroundDeletion")
            for dependent_type, dependent in dependents:
                m = dependent["metadata"]
                if not m.get("deletionTimestamp"):
                    tolerate_gone(
                        lambda r=dependent_type, m=m: self.store.delete(
                            r, m.get("namespace"), m["name"], {"propagationPolicy": "Foreground"}
                        )
                    )
        if rtype.kind == "Namespace":
            contents = [(r, o) for r, o in snapshot if r.namespaced and o["metadata"].get("namespace") == meta["name"]]
            for content_type, content in contents:
                m = content["metadata"]
                if not m.get("deletionTimestamp"):
                    tolerate_gone(
                        lambda r=content_type, m=m: self.store.delete(
                            r, m["namespace"], m["name"], {"propagationPolicy": "Background"}
                        )
                    )
            if not contents:
                self.store.finalize_namespace(meta["name"])

    def _drop_owner(self, rtype: ResourceType, obj: Object, owner_uid: str) -> None:
        def drop(current: Object) -> Object:
            refs = [r for r in current["metadata"].get("ownerReferences") or [] if r.get("uid") != owner_uid]
            if refs:
                current["metadata"]["ownerReferences"] = refs
            else:
                current["metadata"].pop("ownerReferences", None)
            return current

        meta = obj["metadata"]
        tolerate_gone(lambda: self.store.patch(rtype, meta.get("namespace"), meta["name"], drop))
