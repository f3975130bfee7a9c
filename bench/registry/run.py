"""The benchmark, start to end: Postgres, the Registry, the API phases with their raw-DB baseline, then the
search corpus and the search phases. Everything lives in one temp dir that is deleted at the end."""

from __future__ import annotations

import asyncio
import math
import shutil
import tempfile
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from bench.registry import load, report, timeline, workload
from bench.registry.processes import (
    RegistryProcess,
    machine_busy_seconds,
    own_cpu_seconds,
    postmaster_pid,
    start_postgres,
    tree_cpu_seconds,
    wait_until_quiet,
)
from bench.registry.profile import Profiler
from dhg.postgres import EmbeddedPostgres
from registry import migrate
from registry.pg import conninfo

if TYPE_CHECKING:
    from bench.registry.corpus import Corpus
    from registry.embeddings import SentenceTransformerEmbedder

Meter = Callable[[], dict[str, float]]
T = TypeVar("T")
QUIET_CORES = 0.2
SUSTAINED_SHARE = 0.7  # the second open-loop rate, as a share of the closed-loop capacity


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:  # Windows: the default loop
        return None
    return uvloop.new_event_loop


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """asyncio.run on uvloop where it is installed (a dependency of the Registry's server): the load generator
    shares the 2 cores with what it measures, and uvloop's event loop costs it less CPU."""
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        return runner.run(coroutine)


@dataclass
class Options:
    duration: float = 20.0
    warmup: float = 3.0
    concurrency: int = 16
    write_rate: float = 300.0
    read_rate: float = 1000.0
    max_in_flight: int = 32
    segments: int = 100_000
    distinct_sentences: int = 4000
    queries: int = 300
    server_workers: int = 1  # 2 cores shared with Postgres and the load generator: see bench/README.md
    server_env: dict[str, str] = field(default_factory=dict)
    api: bool = True
    search: bool = True
    json: Path | None = None
    profile: Path | None = None
    py_spy: str | None = None
    cache_dir: Path | None = None
    keep: bool = False
    wait_quiet: float = 0.0
    repeat: int = 1
    timeline: bool = False


@dataclass
class Run:
    options: Options
    postgres: EmbeddedPostgres
    root: Path
    profiler: Profiler | None
    phases: dict[str, load.PhaseResult] = field(default_factory=dict)
    figures: dict[str, float] = field(default_factory=dict)
    context: dict[str, Any] = field(default_factory=dict)

    def registry(self, database_url: str, name: str, embeddings: str) -> RegistryProcess:
        return RegistryProcess(
            database_url,
            self.root / f"{name}-media",
            self.root / f"{name}.log",
            embeddings=embeddings,
            workers=self.options.server_workers,
            extra_env=self.options.server_env,
        ).start()

    def meter(self, server: RegistryProcess) -> Meter:
        postmaster = postmaster_pid(self.postgres)
        return lambda: {
            "client": own_cpu_seconds(),
            "registry": tree_cpu_seconds(server.pid),
            "postgres": tree_cpu_seconds(postmaster),
            "machine": machine_busy_seconds(),
        }

    def record(self, key: str, phase: load.PhaseResult) -> None:
        self.phases[key] = phase
        name = key + (" OVERLOADED" if phase.overloaded else "")
        error = f" ({phase.first_error})" if phase.first_error else ""
        print(
            f"  {name:<50} {phase.rate:8.1f}/s  p50 {phase.percentile(50):7.1f}  p99 {phase.percentile(99):7.1f} ms"
            f"  errors {phase.errors + phase.unfinished}{error}",
            flush=True,
        )


async def api_phases(run: Run, server: RegistryProcess) -> None:
    """Writes and reads through HTTP and straight to the database, closed loop; then open loop at the targets."""
    options, meter = run.options, run.meter(server)
    transcripts = workload.Transcripts()
    http = workload.http_sessions(server.port, server.admin_token)
    raw = workload.raw_sessions(conninfo(server.database_url))
    plan: list[tuple[str, load.Sessions, load.Operation, bool]] = [
        ("http write closed", http, workload.http_write(transcripts), True),
        ("http read closed", http, workload.http_read(transcripts), True),
        ("raw write closed", raw, workload.raw_write(transcripts), False),
        ("raw read closed", raw, workload.raw_read(transcripts), False),
    ]
    for key, sessions, operation, profiled in plan:
        spy = (
            run.profiler.start(server.pid, key.replace(" ", "-"), options.warmup + options.duration)
            if run.profiler and profiled
            else None
        )
        results = [
            await load.closed_loop(
                key,
                sessions,
                operation,
                concurrency=options.concurrency,
                duration=options.duration,
                warmup=options.warmup,
                meter=meter,
            )
            for _ in range(options.repeat)
        ]
        run.record(key, load.quietest(results))
        if spy is not None:
            await asyncio.to_thread(spy.wait)
    for kind, target_rate, operation in [
        ("write", options.write_rate, workload.http_write(transcripts)),
        ("read", options.read_rate, workload.http_read(transcripts)),
    ]:
        capacity = run.phases[f"http {kind} closed"].rate
        for label, rate in [("target", target_rate), ("70% of capacity", round(SUSTAINED_SHARE * capacity, 1))]:
            if rate <= 0:
                continue
            key = f"http {kind} open @{rate:g}/s ({label})"
            results = [await _open_loop(run, server, key, http, operation, rate) for _ in range(options.repeat)]
            run.record(key, load.quietest(results))
            if label == "target":
                run.figures[f"{kind}_p99_ms_at_target"] = _p99_at_target(run.phases[key])
    writes, reads = run.phases["http write closed"], run.phases["http read closed"]
    raw_writes, raw_reads = run.phases["raw write closed"], run.phases["raw read closed"]
    run.figures |= {
        "writes_per_second": writes.rate,
        "reads_per_second": reads.rate,
        "raw_writes_per_second": raw_writes.rate,
        "raw_reads_per_second": raw_reads.rate,
        "write_ratio_service_to_raw": writes.rate / raw_writes.rate if raw_writes.rate else math.nan,
        "read_ratio_service_to_raw": reads.rate / raw_reads.rate if raw_reads.rate else math.nan,
        "write_p99_ms_closed": writes.percentile(99),
        "read_p99_ms_closed": reads.percentile(99),
    }


async def _open_loop(
    run: Run, server: RegistryProcess, key: str, sessions: load.Sessions, operation: load.Operation, rate: float
) -> load.PhaseResult:
    """One open-loop phase; with --timeline, also what each process did in each half-second of it."""
    options = run.options

    async def measure() -> load.PhaseResult:
        return await load.open_loop(
            key,
            sessions,
            operation,
            rate=rate,
            duration=options.duration,
            warmup=options.warmup,
            max_in_flight=options.max_in_flight,
            meter=run.meter(server),
        )

    if not options.timeline:
        return await measure()
    with timeline.Sampler(postmaster_pid(run.postgres), server.pid, conninfo(server.database_url)) as sampler:
        result = await measure()
    result.timeline = timeline.buckets(
        sampler.samples, list(zip(result.scheduled_at, result.latencies_ms, strict=True))
    )
    return result


def _p99_at_target(phase: load.PhaseResult) -> float:
    """The open-loop p99, or infinity when the rate could not be held (the queue only grows)."""
    return math.inf if phase.overloaded else phase.percentile(99)


def run_api(run: Run) -> None:
    print("API: transcript writes and reads", flush=True)
    database_url = run.postgres.url
    migrate.upgrade(database_url)
    server = run.registry(database_url, "api", embeddings="off")
    try:
        run_async(api_phases(run, server))
    finally:
        server.stop()


def run_search(run: Run) -> None:
    """Bulk-load the corpus into its own database, then time search with the embedding model loaded."""
    from bench.registry import corpus, sentences  # torch is imported only when search runs

    options = run.options
    print(f"search: building a {options.segments:,}-segment corpus", flush=True)
    database_url = run.postgres.create_database("search")
    migrate.upgrade(database_url)
    embedder = corpus.load_embedder()
    stored = corpus.build(
        conninfo(database_url),
        segments=options.segments,
        distinct=options.distinct_sentences,
        cache_dir=options.cache_dir,
        embedder=embedder,
    )
    run.context["corpus"] = {
        "segments": options.segments,
        "distinct_sentences": options.distinct_sentences,
        **stored.timings,
    }
    print(f"  corpus: {stored.timings}", flush=True)
    texts = sentences.queries(options.queries)
    server = run.registry(database_url, "search", embeddings="on")
    try:
        run.context["search_embedding_backlog_at_start"] = server.metric("dhg_registry_embedding_backlog_segments")
        _measure_search(run, server, stored, embedder, texts)
    finally:
        server.stop()


def _measure_search(
    run: Run, server: RegistryProcess, stored: Corpus, embedder: SentenceTransformerEmbedder, texts: list[str]
) -> None:
    """Raw ANN SQL, the endpoint, and the model alone, over the same queries."""
    import numpy as np

    from bench.registry import corpus, search

    options, meter = run.options, run.meter(server)
    vectors = corpus.embed(embedder, texts, cache_dir=None)
    database = conninfo(server.database_url)
    raws = [search.raw_ann(database, stored, vectors, meter=meter) for _ in range(options.repeat)]
    run.record("search raw ann", load.quietest([result for result, _ in raws]))
    spy = run.profiler.start(server.pid, "search-endpoint", options.queries * 0.1 + 5) if run.profiler else None
    answers = [
        run_async(search.endpoint(server.port, server.admin_token, stored, texts, vectors, meter=meter))
        for _ in range(options.repeat)
    ]
    run.record("search endpoint", load.quietest([result for result, _, _ in answers]))
    if spy is not None:
        spy.wait()
    together = [
        run_async(
            search.concurrent(server.port, server.admin_token, stored, texts * 3, np.tile(vectors, (3, 1)), meter=meter)
        )
        for _ in range(options.repeat)  # each query three times: a window of several seconds
    ]
    run.record("search endpoint concurrent", load.quietest([result for result, _ in together]))
    for mode in run_async(search.modes(server.port, server.admin_token, texts)):
        run.record(f"search {mode.mode}", mode.latency)
        run.figures[f"search_{mode.mode}_p50_ms"] = mode.latency.percentile(50)
        run.figures[f"search_{mode.mode}_p95_ms"] = mode.latency.percentile(95)
        for kind, recall in mode.recall.items():
            run.figures[f"search_{mode.mode}_recall_{kind.replace(' ', '_')}"] = recall
    run.record("search model only", search.model_only(embedder, texts))
    run.record("search model only, 1 torch thread", search.model_only(embedder, texts, threads=1))
    run.record("search model only, batched", search.model_batched(embedder, texts))
    run.context["search_modes"] = answers[0][2]
    endpoint, raw = run.phases["search endpoint"], run.phases["search raw ann"]
    run.figures |= {
        "search_p50_ms": endpoint.percentile(50),
        "search_p95_ms": endpoint.percentile(95),
        "search_p99_ms": endpoint.percentile(99),
        "raw_ann_p50_ms": raw.percentile(50),
        "raw_ann_p95_ms": raw.percentile(95),
        "raw_ann_p99_ms": raw.percentile(99),
        "search_ratio_endpoint_to_raw_p50": endpoint.percentile(50) / raw.percentile(50),
        "model_only_p50_ms": run.phases["search model only"].percentile(50),
        "model_only_one_thread_p50_ms": run.phases["search model only, 1 torch thread"].percentile(50),
        "searches_per_second_concurrent": run.phases["search endpoint concurrent"].rate,
        "search_concurrent_p95_ms": run.phases["search endpoint concurrent"].percentile(95),
        "search_concurrent_recall_at_10": together[0][1],
        "model_only_batched_per_second": run.phases["search model only, batched"].rate,
        "searches_per_second_sequential": endpoint.rate,
        "search_recall_at_10": answers[0][1],  # the same queries against the same index: recall does not vary
        "raw_ann_recall_at_10": raws[0][1],
    }


def main(options: Options) -> int:
    """Run what `options` asks, print the table, write the JSON; exit status 0 even when a target fails."""
    started = time.perf_counter()
    busy = wait_until_quiet(options.wait_quiet)
    if busy >= QUIET_CORES:
        print(f"warning: other processes keep {busy:.2f} cores busy; figures will be low (see 'other' below)")
    root = Path(tempfile.mkdtemp(prefix="bench-registry-"))
    postgres = start_postgres(root / "postgres")
    run = Run(options, postgres, root, Profiler.find(options.profile, options.py_spy))
    run.context = {
        "machine": report.machine(),
        "busy_cores_before_start": round(busy, 2),
        "options": {k: str(v) if isinstance(v, Path) else v for k, v in vars(options).items()},
        "description": (
            f"PostgreSQL {postgres.psql('SHOW server_version')} durable (fsync, synchronous_commit on); "
            f"Registry: {options.server_workers} uvicorn process(es); closed loop C={options.concurrency}, "
            f"open loop Poisson, {options.duration:g} s windows after {options.warmup:g} s warm-up"
            + (f"; Registry env {options.server_env}" if options.server_env else "")
        ),
    }
    try:
        if options.api:
            run_api(run)
        if options.search:
            run_search(run)
    finally:
        postgres.stop()
        if options.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    run.context["total_seconds"] = round(time.perf_counter() - started, 1)
    if run.profiler:
        run.context["profile"] = {
            path.stem: run.profiler.summarize(path.stem) for path in sorted(run.profiler.out_dir.glob("*.txt"))
        }
    print()
    print(report.table(run.phases, run.figures, run.context))
    if options.json:
        report.to_json(options.json, run.phases, run.figures, run.context)
        print(f"\nwrote {options.json}")
    return 0
