"""The cluster autoscaler's word on worker pods: its TriggeredScaleUp Events, from a watch the API server filters.

Events carry no labels, and Kopf filters a watch only on the client side, so its index of these Events received
every Event of the cluster (a busy cluster posts thousands a minute) to keep a few. This watch asks the API server
for `involvedObject.kind=Pod,reason=TriggeredScaleUp` only: per watched namespace where the operator watches
named namespaces (its RBAC is a Role in each), cluster-wide otherwise. Each scope is listed, then watched from the
list's resourceVersion, listed again when the watch expires (410) or breaks, in a thread of its own."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from kubernetes import client as k8s
from kubernetes import watch as k8s_watch
from kubernetes.client.exceptions import ApiException

from controller.reconcile import parse_time

log = logging.getLogger("controller.scaleups")

SCALE_UP_REASON = "TriggeredScaleUp"  # the cluster autoscaler's Event on a pod it adds a node for
SELECTOR = f"involvedObject.kind=Pod,reason={SCALE_UP_REASON}"
WATCH_SECONDS = 300  # a watch's server-side timeout; then it is resumed from the last resourceVersion
RETRY_SECONDS = 5.0
GLOB = frozenset("*?[")

PodKey = tuple[str, str]  # (namespace, pod name)


def happened(event: dict[str, Any]) -> str | None:
    """When the Event last happened: core/v1 Events from client-go's recorder (the autoscaler's) stamp
    lastTimestamp; newer recorders a series, or eventTime; else its creation."""
    when = (event.get("series") or {}).get("lastObservedTime") or event.get("lastTimestamp") or event.get("eventTime")
    return when or (event.get("metadata") or {}).get("creationTimestamp")


class ScaleUps:
    """Pod → when the autoscaler last said it is adding a node for it; written by the watch threads, read by the
    reconciler. A pod's Events are kept by name (each expires by itself: its DELETED removes it)."""

    def __init__(self) -> None:
        self._events: dict[PodKey, dict[str, str]] = {}
        self._lock = threading.Lock()

    def latest(self, namespace: str, pod: str) -> datetime | None:
        with self._lock:
            times = list((self._events.get((namespace, pod)) or {}).values())
        parsed = [t for t in map(parse_time, times) if t]
        return max(parsed) if parsed else None

    def apply(self, kind: str, event: dict[str, Any]) -> None:
        """One watch event (ADDED, MODIFIED or DELETED) of a core/v1 Event."""
        involved, meta = event.get("involvedObject") or {}, event.get("metadata") or {}
        if involved.get("kind") != "Pod" or event.get("reason") != SCALE_UP_REASON:
            return  # the server filtered these out already; a stand-in that did not is no reason to keep them
        key, name = (meta.get("namespace") or involved.get("namespace") or "", involved.get("name") or ""), meta["name"]
        with self._lock:
            if kind == "DELETED":
                kept = self._events.get(key, {})
                kept.pop(name, None)
                if not kept:
                    self._events.pop(key, None)
            elif (when := happened(event)) is not None:
                self._events.setdefault(key, {})[name] = when

    def replace(self, namespace: str | None, events: Iterable[dict[str, Any]]) -> None:
        """What a fresh list of `namespace` (None: every namespace) says, in place of what was kept for it."""
        with self._lock:
            for key in [key for key in self._events if namespace is None or key[0] == namespace]:
                del self._events[key]
        for event in events:
            self.apply("ADDED", event)

    def __len__(self) -> int:
        with self._lock:
            return sum(len(kept) for kept in self._events.values())


def scopes(namespaces: list[str]) -> list[str | None]:
    """The namespaces to watch: each named one; the whole cluster when none are named, or when one is a pattern
    (Kopf's globs): the server still filters by reason, and what is outside the operator's namespaces is never
    asked about."""
    if not namespaces or any(GLOB & set(name) for name in namespaces):
        return [None]
    return list(dict.fromkeys(namespaces))


class ScaleUpWatch:
    """The watch threads of one operator, feeding `scale_ups`; `stop()` ends them."""

    def __init__(self, api: k8s.ApiClient, namespaces: list[str], scale_ups: ScaleUps) -> None:
        self.api = k8s.ApiClient(api.configuration)  # its own connections: a watch holds one for minutes
        self.core = k8s.CoreV1Api(self.api)
        self.scale_ups = scale_ups
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._follow, args=(scope,), name=f"scale-ups-{scope or 'cluster'}", daemon=True)
            for scope in scopes(namespaces)
        ]

    def start(self) -> ScaleUpWatch:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.api.rest_client.pool_manager.clear()  # a watch blocked reading its response ends now

    def _lister(self, scope: str | None) -> tuple[Callable[..., Any], dict[str, str]]:
        if scope is None:
            return self.core.list_event_for_all_namespaces, {}
        return self.core.list_namespaced_event, {"namespace": scope}

    def _follow(self, scope: str | None) -> None:
        lister, where = self._lister(scope)
        while not self._stop.is_set():
            try:
                listed = lister(field_selector=SELECTOR, _preload_content=False, **where)
                body = json.loads(listed.data)
                self.scale_ups.replace(scope, body.get("items") or [])
                self._watch(lister, where, body["metadata"]["resourceVersion"])
            except ApiException as error:
                if error.status != 410:  # 410: the version is gone (compacted): list again at once
                    log.warning("watching scale-up Events failed (%s); again in %.0f s", error, RETRY_SECONDS)
                    self._stop.wait(RETRY_SECONDS)
            except Exception as error:  # the connection broke, or stop() closed it
                if not self._stop.is_set():
                    log.warning("watching scale-up Events failed (%s); again in %.0f s", error, RETRY_SECONDS)
                    self._stop.wait(RETRY_SECONDS)

    def _watch(self, lister: Callable[..., Any], where: dict[str, str], version: str) -> None:
        """Follow from `version` until stopped; an expired version raises ApiException(410)."""
        while not self._stop.is_set():
            watcher = k8s_watch.Watch()  # type: ignore[no-untyped-call]
            stream = watcher.stream(  # type: ignore[no-untyped-call]
                lister,
                field_selector=SELECTOR,
                resource_version=version,
                timeout_seconds=WATCH_SECONDS,
                allow_watch_bookmarks=True,
                **where,
            )
            for change in stream:
                raw = change["raw_object"]
                if change["type"] == "ERROR":
                    raise ApiException(status=int(raw.get("code") or 500), reason=raw.get("message"))
                version = (raw.get("metadata") or {}).get("resourceVersion") or version
                if change["type"] != "BOOKMARK":
                    self.scale_ups.apply(change["type"], raw)
                if self._stop.is_set():
                    return
