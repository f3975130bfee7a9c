"""What a loop that retries says about its failures: one line when a kind of failure starts (with its traceback
once per process, for the bug it may be), then a count now and then while it goes on, and one line when it ends;
never a traceback every round."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

REPEAT_REPORT_SECONDS = 60.0  # while failures of one kind go on: how often they are counted in a line


def failure_kind(error: BaseException) -> str:
    """What makes two failures the same: the exception's type (psycopg.OperationalError, ConnectError, ...)."""
    kind = type(error)
    return kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


def _summary(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text[:300] or type(error).__name__


@dataclass
class RepeatedFailures:
    """The failures of one retrying loop (`what` names it in each line: "the embedding worker's batch")."""

    what: str
    logger: logging.Logger
    report_every: float = REPEAT_REPORT_SECONDS
    clock: Callable[[], float] = time.monotonic
    counts: dict[str, int] = field(default_factory=dict)  # kind → failures since the loop last succeeded
    _unreported: dict[str, int] = field(default_factory=dict)
    _reported_at: dict[str, float] = field(default_factory=dict)
    _seen: set[str] = field(default_factory=set)  # kinds whose traceback this process has logged

    def failed(self, error: BaseException) -> None:
        """Count a failure; log it when its kind is new, or when `report_every` has passed since its last line."""
        kind = failure_kind(error)
        self.counts[kind] = self.counts.get(kind, 0) + 1
        now = self.clock()
        if kind not in self._reported_at:
            first = kind not in self._seen
            self._seen.add(kind)
            self.logger.warning(
                "%s failed (%s: %s); retrying",
                self.what,
                kind,
                _summary(error),
                extra={"failure_kind": kind, "failures": self.counts[kind]},
                exc_info=error if first else None,
            )
            self._reported_at[kind], self._unreported[kind] = now, 0
            return
        self._unreported[kind] += 1
        if now - self._reported_at[kind] >= self.report_every:
            self.logger.warning(
                "%s still failing (%s: %s): %d more times in the last %.0f s, %d since it last worked",
                self.what,
                kind,
                _summary(error),
                self._unreported[kind],
                now - self._reported_at[kind],
                self.counts[kind],
                extra={"failure_kind": kind, "failures": self.counts[kind]},
            )
            self._reported_at[kind], self._unreported[kind] = now, 0

    def succeeded(self) -> None:
        """The loop worked again: one line saying after how many failures, if there were any."""
        if self.counts:
            total = sum(self.counts.values())
            kinds = ", ".join(f"{kind} x{count}" for kind, count in self.counts.items())
            self.logger.info(
                "%s works again after %d failures (%s)", self.what, total, kinds, extra={"failures": total}
            )
        self.counts.clear()
        self._unreported.clear()
        self._reported_at.clear()
