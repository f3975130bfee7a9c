"""bench.registry.timeline: the process kinds it tells apart and the usage it puts in each bucket."""

from __future__ import annotations

import os

import pytest

from bench.registry import timeline
from bench.registry.timeline import Sample


@pytest.mark.parametrize(
    ("title", "kind"),
    [
        ("postgres: autovacuum worker dhg", "autovacuum worker"),
        ("postgres: checkpointer ", "checkpointer"),
        ("postgres: walwriter ", "walwriter"),
        ("postgres: postgres dhg 127.0.0.1(5432) INSERT", "backend"),
        ("/opt/pg/bin/postgres -D /tmp/data -c port=5432", "postmaster"),
    ],
)
def test_postgres_kind(title: str, kind: str) -> None:
    assert timeline.postgres_kind(title) == kind


def _sample(at: float, machine: float, backend: float, vacuum: float | None, wal: int) -> Sample:
    processes = {10: ("backend", backend)} | ({20: ("autovacuum worker", vacuum)} if vacuum is not None else {})
    return Sample(at=at, machine=machine, registry=at / 4, client=0.0, postgres=processes, wal_bytes=wal)


def test_buckets_attribute_usage_and_latency_to_each_half_second() -> None:
    # a vacuum worker appears in the second half-second and takes 0.6 cores; the WAL rate doubles there
    samples = [
        _sample(0.0, 0.0, 0.0, None, 0),
        _sample(0.5, 0.5, 0.2, None, 1_000_000),
        _sample(1.0, 1.3, 0.4, 0.3, 3_000_000),
    ]
    answers = [(0.0, 10.0), (0.1, 30.0), (0.2, 20.0), (0.6, 200.0), (0.7, 150.0)]
    first, second = timeline.buckets(samples, answers)
    assert (first["answers"], first["p50_ms"], first["max_ms"]) == (3, 20.0, 30.0)
    assert (second["answers"], second["max_ms"], second["offset_s"]) == (2, 200.0, 0.5)
    assert "postgres autovacuum worker" not in first["cores"]
    assert second["cores"]["postgres autovacuum worker"] == pytest.approx(0.6)  # born in between: all its CPU
    assert second["cores"]["postgres backend"] == pytest.approx(0.4)
    assert first["cores"]["postgres backend"] == pytest.approx(0.4)
    assert (first["cores"]["wal_mb_per_s"], second["cores"]["wal_mb_per_s"]) == (2.0, 4.0)
    assert timeline.slowest([first, second], 1) == [second]
    line = timeline.describe(second)
    assert "max  200.0 ms" in line
    assert line.index("autovacuum worker 0.60") < line.index("postgres backend 0.40")  # busiest first


def test_sampler_reads_this_machine() -> None:
    # the process reader on a live process tree: this test process under its parent
    children = timeline._children_by_kind(os.getppid(), {})
    assert children[os.getpid()][0] == "postmaster"  # not a Postgres title: what the reader calls the rest
    assert children[os.getpid()][1] > 0  # this process has used CPU
    assert timeline.buckets([], []) == []
