"""`dhg up` keeps its stack alive: a part that dies (Postgres, the Registry, the ASR service, Prometheus, the
TranscriptionJob runner) is reported in one line and started again after a growing pause; one that keeps dying is
given up on with an error naming the log to read.

The decision is pure (`RestartPolicy.delay`, over the times of the earlier restarts); `Supervisor` observes the parts
and carries it out."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from dhg.errors import DhgError, StackError


@dataclass(frozen=True)
class RestartPolicy:
    """At most `limit` restarts of one part within `window_seconds`; before each, a pause that doubles from
    `first_delay_seconds` up to `max_delay_seconds` with every recent restart."""

    limit: int = 5
    window_seconds: float = 600.0
    first_delay_seconds: float = 1.0
    max_delay_seconds: float = 30.0

    def delay(self, restarts: Sequence[float], now: float) -> float | None:
        """Seconds to wait before the next restart, given when the earlier ones were; None: give up."""
        recent = sum(1 for at in restarts if now - at < self.window_seconds)
        if recent >= self.limit:
            return None
        return min(self.first_delay_seconds * float(2**recent), self.max_delay_seconds)


class Part(Protocol):
    """What the supervisor needs of a part of the stack."""

    @property
    def name(self) -> str: ...

    @property
    def log_path(self) -> Path: ...

    def ended(self) -> str | None:
        """None while it runs; else how it ended ("was killed by SIGKILL", "exited with status 1")."""
        ...

    def restart(self) -> None:
        """Start it again and wait until it is ready; a DhgError says why it could not."""
        ...


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


@dataclass
class Supervisor:
    parts: Sequence[Part]
    report: Callable[[str], None]
    policy: RestartPolicy = RestartPolicy()
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    restarted: Callable[[Part], None] = lambda part: None  # told before a restart is said (to record the new pid)
    restarts: dict[str, list[float]] = field(default_factory=dict)  # part name → when it was restarted

    def check(self) -> int:
        """Look at every part once and restart the ones that ended; returns how many were (StackError when one is
        given up on)."""
        restarted = 0
        for part in self.parts:
            how = part.ended()
            if how is not None:
                self._recover(part, how)
                restarted += 1
        return restarted

    def _recover(self, part: Part, how: str) -> None:
        history = self.restarts.setdefault(part.name, [])
        while True:
            delay = self.policy.delay(history, self.clock())
            if delay is None:
                window = f"{self.policy.window_seconds / 60:g} minutes"
                raise StackError(
                    f"{part.name} {how}, after {len(history)} restarts within {window}; giving up. "
                    f"Read its log: {part.log_path}"
                )
            self.report(
                f"{part.name} {how}; restarting it in {delay:g} s "
                f"(restart {len(history) + 1} of at most {self.policy.limit}); its log: {part.log_path}"
            )
            self.sleep(delay)
            history.append(self.clock())
            try:
                part.restart()
            except DhgError as error:
                how = f"did not start again ({_first_line(error)})"
                continue
            self.restarted(part)
            self.report(f"{part.name} is running again")
            return
