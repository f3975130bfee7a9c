"""What the store answers without changing anything: objects by name, lists, uids, and the event stream watches read
(with its retained history); `Store` (kubesim/store.py) inherits these over its state."""

from __future__ import annotations

import builtins
import copy
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from kubesim import errors
from kubesim.resources import Registry, ResourceType

Object = dict[str, Any]


@dataclass(frozen=True)
class Event:
    """A committed change: ADDED, MODIFIED or DELETED, with the object before it (for selector transitions)."""

    type: str
    resource: ResourceType
    object: Object
    old: Object | None
    resource_version: int


class Views:
    """The store's reads and watches, over the state `Store` keeps (declared here, made there)."""

    lock: threading.RLock
    registry: Registry
    _objects: dict[tuple[str, str], dict[tuple[str, str], Object]]
    _uids: dict[str, tuple[tuple[str, str], str, str]]
    _rv: int
    _history: deque[Event]
    _floor: int
    _listeners: builtins.list[Callable[[Event], None]]

    # ---- reading

    @property
    def resource_version(self) -> int:
        return self._rv

    def get(self, resource: ResourceType, namespace: str | None, name: str) -> Object:
        return copy.deepcopy(self._stored(resource, namespace, name))

    def _stored(self, resource: ResourceType, namespace: str | None, name: str) -> Object:
        """The stored object itself (writes replace it, never edit it): for reading under the lock."""
        with self.lock:
            obj = self._objects.get(resource.key, {}).get((namespace or "", name))
            if obj is None:
                raise errors.not_found(resource.plural, resource.group, name)
            return obj

    def find(self, resource: ResourceType, namespace: str | None, name: str) -> Object | None:
        with self.lock:
            obj = self._objects.get(resource.key, {}).get((namespace or "", name))
            return copy.deepcopy(obj) if obj else None

    def list(
        self,
        resource: ResourceType,
        namespace: str | None,
        match: Callable[[Object], bool] = lambda _o: True,
        *,
        copies: bool = True,
    ) -> tuple[builtins.list[Object], int]:
        """The objects (sorted by namespace and name) and the list's resourceVersion. `copies=False`: the stored
        objects themselves, for the simulated controllers' read-only sweeps (writes replace stored objects)."""
        with self.lock:
            objects = self._objects.get(resource.key, {})
            items = [
                copy.deepcopy(obj) if copies else obj
                for (ns, _name), obj in sorted(objects.items())
                if (namespace is None or ns == namespace) and match(obj)
            ]
            return items, self._rv

    def by_uid(self, uid: str) -> tuple[ResourceType, Object] | None:
        with self.lock:
            where = self._uids.get(uid)
            if where is None:
                return None
            key, namespace, name = where
            resource = self.registry.get(*key)
            obj = self._objects.get(key, {}).get((namespace, name))
            return (resource, copy.deepcopy(obj)) if resource and obj else None

    def has_uid(self, uid: str) -> bool:
        with self.lock:
            return uid in self._uids

    def everything(self, *, copies: bool = True) -> Iterator[tuple[ResourceType, Object]]:
        """A snapshot of all objects of every served type (for the garbage collector). `copies=False`: the stored
        objects themselves, for a reader that never changes them (writes replace stored objects, never edit them)."""
        with self.lock:
            snapshot = [
                (resource, copy.deepcopy(obj) if copies else obj)
                for resource in self.registry.all()
                for obj in self._objects.get(resource.key, {}).values()
            ]
        return iter(snapshot)

    # ---- watching

    def subscribe(self, listener: Callable[[Event], None]) -> Callable[[], None]:
        with self.lock:
            self._listeners.append(listener)
        return lambda: self._unsubscribe(listener)

    def _unsubscribe(self, listener: Callable[[Event], None]) -> None:
        with self.lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def watch_from(
        self, resource: ResourceType, since: int | None, listener: Callable[[Event], None]
    ) -> tuple[builtins.list[Event], Callable[[], None]]:
        """The events after `since` (or synthetic ADDED events for the current state), then live ones: atomically.

        Raises 410 Expired when `since` is older than the retained history, as a compacted etcd does.
        """
        with self.lock:
            if since is None:
                backlog = [
                    Event("ADDED", resource, copy.deepcopy(obj), None, int(obj["metadata"]["resourceVersion"]))
                    for _key, obj in sorted(self._objects.get(resource.key, {}).items())
                ]
            elif since < self._floor:
                raise errors.expired(f"too old resource version: {since} ({self._floor})")
            else:
                backlog = [e for e in self._history if e.resource_version > since and e.resource.key == resource.key]
            return backlog, self.subscribe(listener)

    def compact(self) -> None:
        """Forget the event history, as etcd compaction does: older resourceVersions now answer 410 Gone."""
        with self.lock:
            self._history.clear()
            self._floor = self._rv
