"""The request log: every authenticated request's authorization attributes and decision, always on (a small
record per request), so a test can list exactly what an identity did and what it was refused."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

from kubesim.requestinfo import Attributes


@dataclass(frozen=True)
class RequestRecord:
    user: str
    verb: str
    group: str  # "" for the core group
    resource: str  # "" for a non-resource request (then `path` says what)
    subresource: str
    namespace: str
    name: str
    allowed: bool
    path: str
    field_selector: str = ""  # a list's or a watch's, as asked

    @property
    def resource_path(self) -> str:
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource


class RequestLog:
    """Appended to by the server's thread, read by the test's."""

    def __init__(self) -> None:
        self._records: list[RequestRecord] = []
        self._lock = threading.Lock()

    def record(self, attributes: Attributes, allowed: bool, field_selector: str = "") -> None:
        entry = RequestRecord(
            attributes.user.name,
            attributes.verb,
            attributes.group,
            attributes.resource,
            attributes.subresource,
            attributes.namespace,
            attributes.name,
            allowed,
            attributes.path,
            field_selector,
        )
        with self._lock:
            self._records.append(entry)

    def __iter__(self) -> Iterator[RequestRecord]:
        with self._lock:
            return iter(list(self._records))

    def __len__(self) -> int:
        return len(self._records)

    def of(self, user: str) -> list[RequestRecord]:
        """That user's requests, in order."""
        return [r for r in self if r.user == user]

    def used(self, user: str, *, allowed: bool | None = None) -> set[tuple[str, str, str]]:
        """(apiGroup, resource[/subresource], verb) of the user's resource requests: all, or only the allowed
        (allowed=True) or the refused (allowed=False) ones."""
        return {
            (r.group, r.resource_path, r.verb)
            for r in self.of(user)
            if r.resource and (allowed is None or r.allowed == allowed)
        }

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
