"""Load shapes: closed loop (N workers back to back: the most a system does) and open loop (Poisson arrivals
at a fixed rate: the latency a client sees at that load, timed from the scheduled send so a slow server
cannot hide its queue). Both are bounded in time and in count, and meter CPU over the measured window.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

Operation = Callable[[Any], Awaitable[None]]
Opener = Callable[[], Awaitable[Any]]
Closer = Callable[[Any], Awaitable[None]]
CpuMeter = Callable[[], dict[str, float]]
MAX_REQUESTS = 5_000_000
DRAIN_SECONDS = 30.0
MAX_BACKLOG_SECONDS = 2.0  # an open loop stops once this many seconds of arrivals wait: the rate is not held


@dataclass
class Sessions:
    """How a worker gets its own connection (HTTP or database) and gives it back."""

    open: Opener
    close: Closer


@dataclass
class PhaseResult:
    """What one measured window did: completions, errors, latencies and the CPU each process used."""

    name: str
    shape: str
    seconds: float
    concurrency: int
    offered_rate: float | None = None
    latencies_ms: list[float] = field(default_factory=list)
    # open loop: of each latency, how late the client's dispatcher queued it (the client's own loop was busy or
    # starved), how long it then waited for a free connection (all busy: the server is behind), and the time
    # from sending to the answer, to tell a slow server from a slow load generator
    late_ms: list[float] = field(default_factory=list)
    waited_ms: list[float] = field(default_factory=list)
    served_ms: list[float] = field(default_factory=list)
    scheduled_at: list[float] = field(default_factory=list)  # open loop: each answer's send time (perf_counter)
    timeline: list[dict[str, Any]] = field(default_factory=list)  # open loop with --timeline: bench.registry.timeline
    errors: int = 0
    unfinished: int = 0
    window_completions: int | None = None  # open loop: answers that arrived inside the window
    overloaded: bool = False
    first_error: str | None = None
    cpu_seconds: dict[str, float] = field(default_factory=dict)
    repetitions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def completed(self) -> int:
        return len(self.latencies_ms)

    @property
    def rate(self) -> float:
        done = self.completed if self.window_completions is None else self.window_completions
        return done / self.seconds if self.seconds else 0.0

    @property
    def other_cores(self) -> float | None:
        """Cores that processes outside the benchmark used during the window (None when not metered)."""
        if "machine" not in self.cpu_seconds or not self.seconds:
            return None
        ours = sum(value for name, value in self.cpu_seconds.items() if name != "machine")
        return max(0.0, self.cpu_seconds["machine"] - ours) / self.seconds

    def percentile(self, q: float, values: list[float] | None = None) -> float:
        """Nearest-rank percentile of the latencies (or of `values`), in ms (NaN when there are none)."""
        values = self.latencies_ms if values is None else values
        if not values:
            return math.nan
        ordered = sorted(values)
        return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]

    def summary(self) -> dict[str, Any]:
        cores = {name: round(seconds / self.seconds, 3) for name, seconds in self.cpu_seconds.items()}
        return {
            "name": self.name,
            "shape": self.shape,
            "seconds": round(self.seconds, 2),
            "concurrency": self.concurrency,
            "offered_rate": self.offered_rate,
            "completed": self.completed,
            "rate": round(self.rate, 1),
            "errors": self.errors,
            "unfinished": self.unfinished,
            "overloaded": self.overloaded,
            "first_error": self.first_error,
            "latency_ms": {f"p{q}": round(self.percentile(q), 2) for q in (50, 95, 99)}
            | {"max": round(max(self.latencies_ms, default=math.nan), 2)},
            "split_ms": {
                part: {f"p{q}": round(self.percentile(q, values), 2) for q in (50, 99)}
                for part, values in (("late", self.late_ms), ("waited", self.waited_ms), ("served", self.served_ms))
                if values
            },
            "cpu_cores": cores,
            "other_cores": None if self.other_cores is None else round(self.other_cores, 3),
            "repetitions": self.repetitions,
        } | ({"timeline": self.timeline} if self.timeline else {})


def quietest(results: list[PhaseResult]) -> PhaseResult:
    """Of repetitions of one phase, the one that other processes disturbed least (its siblings are listed in
    it): on a shared 2-core machine, a neighbour's job can take a whole core for a while."""
    best = min(results, key=lambda r: r.other_cores or 0.0)
    best.repetitions = [
        {"rate": round(r.rate, 1), "p99_ms": round(r.percentile(99), 1), "other_cores": r.other_cores} for r in results
    ]
    return best


class _Window:
    """The measured window [start, end) after a warm-up, with CPU read at both edges."""

    def __init__(self, warmup: float, duration: float, meter: CpuMeter | None) -> None:
        now = time.perf_counter()
        self.start = now + warmup
        self.end = self.start + duration
        self.meter = meter
        self._before: dict[str, float] = {}
        self.cpu: dict[str, float] = {}

    async def watch(self) -> None:
        await asyncio.sleep(max(0.0, self.start - time.perf_counter()))
        self._before = self.meter() if self.meter else {}
        await asyncio.sleep(max(0.0, self.end - time.perf_counter()))
        after = self.meter() if self.meter else {}
        self.cpu = {name: after[name] - self._before[name] for name in after}


def _record_error(result: PhaseResult, error: BaseException) -> None:
    result.errors += 1
    if result.first_error is None:
        result.first_error = f"{type(error).__name__}: {error}"


async def closed_loop(
    name: str,
    sessions: Sessions,
    operation: Operation,
    *,
    concurrency: int,
    duration: float,
    warmup: float,
    meter: CpuMeter | None = None,
) -> PhaseResult:
    """`concurrency` workers, each sending its next request when the last one answers."""
    result = PhaseResult(name, "closed", duration, concurrency)
    window = _Window(warmup, duration, meter)
    budget = [MAX_REQUESTS]

    async def worker() -> None:
        session = await sessions.open()
        try:
            while budget[0] > 0 and (started := time.perf_counter()) < window.end:
                budget[0] -= 1
                try:
                    await operation(session)
                except Exception as error:  # counted and shown in the report; the run goes on
                    _record_error(result, error)
                    continue
                finished = time.perf_counter()
                if started >= window.start and finished <= window.end:
                    result.latencies_ms.append((finished - started) * 1000)
        finally:
            await sessions.close(session)

    watcher = asyncio.create_task(window.watch())
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    await watcher
    result.cpu_seconds = window.cpu
    return result


async def open_loop(
    name: str,
    sessions: Sessions,
    operation: Operation,
    *,
    rate: float,
    duration: float,
    warmup: float,
    max_in_flight: int,
    seed: int = 7,
    meter: CpuMeter | None = None,
) -> PhaseResult:
    """Poisson arrivals at `rate`/s served by up to `max_in_flight` connections; latency counts queueing.

    Stops early, marked overloaded, once more than MAX_BACKLOG_SECONDS of arrivals wait: the server cannot
    hold the rate. An overloaded phase reports every answer since the first arrival (warm-up included)."""
    result = PhaseResult(name, "open", duration, max_in_flight, offered_rate=rate)
    window = _Window(warmup, duration, meter)
    queue: asyncio.Queue[tuple[float, float] | None] = asyncio.Queue()
    rng = random.Random(seed)
    answers: list[tuple[float, float, float, float]] = []  # (scheduled, queued, sent, finished)
    counts = {"sent": 0, "done": 0}
    max_backlog = max(max_in_flight, round(rate * MAX_BACKLOG_SECONDS))
    first = time.perf_counter()
    cpu_at_first = meter() if meter else {}

    async def dispatch() -> None:
        scheduled = first
        for _ in range(MAX_REQUESTS):
            scheduled += rng.expovariate(rate)
            if scheduled >= window.end:
                break
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if counts["sent"] - counts["done"] > max_backlog:
                result.overloaded = True
                break
            queue.put_nowait((scheduled, time.perf_counter()))
            counts["sent"] += 1
        for _ in range(max_in_flight):
            queue.put_nowait(None)

    async def worker() -> None:
        session = await sessions.open()
        try:
            while (arrival := await queue.get()) is not None:
                scheduled, queued = arrival
                try:
                    sent = time.perf_counter()
                    await operation(session)
                    answers.append((scheduled, queued, sent, time.perf_counter()))
                except Exception as error:  # counted and shown in the report; the run goes on
                    _record_error(result, error)
                finally:
                    counts["done"] += 1
        finally:
            await sessions.close(session)

    watcher = asyncio.create_task(window.watch())
    workers = [asyncio.create_task(worker()) for _ in range(max_in_flight)]
    await dispatch()
    if result.overloaded:
        watcher.cancel()
    stopped = time.perf_counter()
    cpu_at_stop = meter() if meter and result.overloaded else {}
    await asyncio.gather(watcher, return_exceptions=True)
    _, pending = await asyncio.wait(workers, timeout=DRAIN_SECONDS)  # a backlog past this is "unfinished"
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    result.unfinished = counts["sent"] - counts["done"]
    if result.overloaded:
        result.seconds = stopped - first
        result.cpu_seconds = {name: cpu_at_stop[name] - cpu_at_first[name] for name in cpu_at_stop}
        measured = answers
        result.window_completions = sum(1 for *_, done in answers if done < stopped)
    else:
        result.cpu_seconds = window.cpu
        measured = [answer for answer in answers if answer[0] >= window.start]
        result.window_completions = sum(1 for *_, done in answers if window.start <= done < window.end)
    result.latencies_ms = [(done - scheduled) * 1000 for scheduled, _, _, done in measured]
    result.scheduled_at = [scheduled for scheduled, *_ in measured]
    result.late_ms = [(queued - scheduled) * 1000 for scheduled, queued, _, _ in measured]
    result.waited_ms = [(sent - queued) * 1000 for _, queued, sent, _ in measured]
    result.served_ms = [(done - sent) * 1000 for *_, sent, done in measured]
    return result
