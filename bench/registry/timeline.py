"""What ran while the open loop's slow answers waited (`--timeline`).

A sampler thread reads, every 100 ms, the CPU of the Registry, of the load generator, of the whole machine and of
each Postgres process by kind (client backends, autovacuum workers, checkpointer, WAL writer...), plus the WAL
position. Answers are then put in half-second buckets by their scheduled send time, and each bucket gets the
cores every kind used and the WAL written meanwhile: the slowest buckets show which background work lines up
with the tail (bench/README.md, "Where a write's time goes now").
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from bench.registry.processes import (
    child_pids,
    cpu_seconds,
    machine_busy_seconds,
    own_cpu_seconds,
    tree_cpu_seconds,
)

SAMPLE_SECONDS = 0.1
BUCKET_SECONDS = 0.5
# `postgres: <kind>` process titles; anything else under the postmaster is a client backend
_KINDS = (
    "autovacuum launcher",
    "autovacuum worker",
    "background writer",
    "checkpointer",
    "walwriter",
    "walsummarizer",
    "io worker",
    "logical replication launcher",
    "logger",
)


def postgres_kind(title: str) -> str:
    """The kind of a Postgres process from its title (/proc/PID/cmdline), e.g. 'autovacuum worker'."""
    _, marker, rest = title.partition("postgres: ")
    if not marker:
        return "postmaster"
    rest = rest.strip()
    return next((kind for kind in _KINDS if rest.startswith(kind)), "backend")


def _children_by_kind(parent: int, kinds: dict[int, str]) -> dict[int, tuple[str, float]]:
    """CPU seconds of each live child of the postmaster, with its kind (remembered per pid)."""
    found: dict[int, tuple[str, float]] = {}
    for pid in child_pids(parent):
        try:
            if pid not in kinds:
                title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
                kinds[pid] = postgres_kind(title)
            found[pid] = (kinds[pid], cpu_seconds(pid))
        except OSError:  # exited meanwhile
            continue
    return found


@dataclass
class Sample:
    at: float  # time.perf_counter(), the clock the load loops use
    machine: float
    registry: float
    client: float
    postgres: dict[int, tuple[str, float]]
    wal_bytes: int | None


@dataclass
class Sampler:
    """Samples until stopped; use as a context manager around the phases to watch."""

    postmaster: int
    registry: int
    conninfo: str
    samples: list[Sample] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Sampler:
        self._thread = threading.Thread(target=self._run, name="timeline", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        kinds: dict[int, str] = {}
        with psycopg.connect(self.conninfo, autocommit=True) as connection:
            while not self._stop.is_set():
                row = connection.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn").fetchone()
                self.samples.append(
                    Sample(
                        at=time.perf_counter(),
                        machine=machine_busy_seconds(),
                        registry=tree_cpu_seconds(self.registry, attempts=1),
                        client=own_cpu_seconds(),
                        postgres=_children_by_kind(self.postmaster, kinds),
                        wal_bytes=int(row[0]) if row else None,
                    )
                )
                self._stop.wait(SAMPLE_SECONDS)


def _usage(first: Sample, last: Sample) -> dict[str, float]:
    """Cores each series used between two samples, and the WAL written (MB/s)."""
    seconds = last.at - first.at
    used: dict[str, float] = {
        "machine": last.machine - first.machine,
        "registry": last.registry - first.registry,
        "client": last.client - first.client,
    }
    for pid, (kind, cpu) in last.postgres.items():
        before = first.postgres.get(pid, (kind, 0.0))[1]  # a process born in between: all of its CPU
        name = f"postgres {kind}"
        used[name] = used.get(name, 0.0) + max(0.0, cpu - before)
    cores = {name: round(value / seconds, 3) for name, value in used.items() if value > 0}
    if first.wal_bytes is not None and last.wal_bytes is not None:
        cores["wal_mb_per_s"] = round((last.wal_bytes - first.wal_bytes) / seconds / 1e6, 2)
    return cores


def buckets(
    samples: list[Sample], answers: list[tuple[float, float]], width: float = BUCKET_SECONDS
) -> list[dict[str, Any]]:
    """Answers (scheduled send time, latency ms) in buckets of `width` seconds by send time, each with the
    latency figures of its answers and the usage from the last sample before the bucket starts to the first
    sample after its slowest answer ends."""
    if not answers:
        return []
    origin = min(at for at, _ in answers)
    grouped: dict[int, list[tuple[float, float]]] = {}
    for at, latency in answers:
        grouped.setdefault(int((at - origin) // width), []).append((at, latency))
    out = []
    for index in sorted(grouped):
        start = origin + index * width
        latencies = sorted(latency for _, latency in grouped[index])
        end = max(at + latency / 1000 for at, latency in grouped[index])
        before = [sample for sample in samples if sample.at <= start]
        after = [sample for sample in samples if sample.at >= end]
        span = (before[-1] if before else samples[0], after[0] if after else samples[-1]) if samples else None
        out.append(
            {
                "offset_s": round(index * width, 2),
                "answers": len(latencies),
                "p50_ms": round(latencies[len(latencies) // 2], 1),
                "max_ms": round(latencies[-1], 1),
                "cores": _usage(*span) if span and span[1].at > span[0].at else {},
            }
        )
    return out


def slowest(timeline: list[dict[str, Any]], count: int = 3) -> list[dict[str, Any]]:
    return sorted(timeline, key=lambda bucket: bucket["max_ms"], reverse=True)[:count]


def describe(bucket: dict[str, Any], top: int = 5) -> str:
    """One line: when, how slow, and the series that used the most cores then."""
    cores = {name: value for name, value in bucket["cores"].items() if name not in ("machine", "wal_mb_per_s")}
    busiest = sorted(cores.items(), key=lambda item: item[1], reverse=True)[:top]
    machine = bucket["cores"].get("machine", math.nan)
    wal = bucket["cores"].get("wal_mb_per_s", math.nan)
    return (
        f"+{bucket['offset_s']:5.1f} s: {bucket['answers']:3d} answers, p50 {bucket['p50_ms']:6.1f} max "
        f"{bucket['max_ms']:6.1f} ms | machine {machine:.2f} cores, WAL {wal:.1f} MB/s | "
        + ", ".join(f"{name} {value:.2f}" for name, value in busiest)
    )
