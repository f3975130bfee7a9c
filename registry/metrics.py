"""Prometheus metrics of the Registry, defined once. Labels come from route templates, never from ids.

With several server processes (`dhg-registry serve --workers N`), each writes its samples to files in
$PROMETHEUS_MULTIPROC_DIR and `/metrics` sums them (prometheus-client's multiprocess mode); each gauge says
how to combine the processes' values (`multiprocess_mode`, ignored with one process).
"""

from __future__ import annotations

import functools
import os
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_asgi_app, multiprocess

from registry.settings import library_environment

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"


def asgi_app() -> Any:
    """The `/metrics` app: this process's registry, or every process's samples in multiprocess mode."""
    if not library_environment(MULTIPROCESS_ENV):
        return make_asgi_app()
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return make_asgi_app(registry)


def process_exited() -> None:
    """Drop this process's live gauges from the shared samples (multiprocess mode only)."""
    if library_environment(MULTIPROCESS_ENV):
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


HTTP_REQUESTS = Counter(
    "dhg_registry_http_requests_total",
    "HTTP requests handled, by route template and status code.",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "dhg_registry_http_request_duration_seconds",
    "HTTP request latency by route template.",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


@functools.lru_cache(maxsize=4096)  # bounded: a method string comes from the client
def http_children(method: str, route: str, status: int) -> tuple[Any, Any]:
    """The request counter and latency histogram of one (method, route template, status): labels() takes a lock
    and builds a key on every call; the set of templates is small and fixed, so the children are kept."""
    return HTTP_REQUESTS.labels(method, route, str(status)), HTTP_LATENCY.labels(method, route)


HTTP_IN_FLIGHT = Gauge(
    "dhg_registry_http_requests_in_flight", "HTTP requests being handled now.", multiprocess_mode="livesum"
)
DB_POOL = Gauge(
    "dhg_registry_db_pool_connections", "Database pool connections by state.", ["state"], multiprocess_mode="livesum"
)
DATABASE_UP = Gauge(
    "dhg_registry_database_up",
    "1 when the last round of stored-total queries reached the database, 0 when it failed.",
    multiprocess_mode="livemin",
)
# Stored totals: every process counts the same database; the newest count wins.
ASSETS = Gauge("dhg_registry_assets", "Media assets stored.", multiprocess_mode="livemostrecent")
ASSET_BYTES = Gauge("dhg_registry_asset_bytes", "Bytes of media stored.", multiprocess_mode="livemostrecent")
TRANSCRIPTS = Gauge("dhg_registry_transcripts", "Transcripts stored.", multiprocess_mode="livemostrecent")
SEGMENTS = Gauge(
    "dhg_registry_segments", "Transcript segments stored (the planner's estimate).", multiprocess_mode="livemostrecent"
)
TRANSCRIPTS_CREATED = Counter("dhg_registry_transcripts_created_total", "Transcripts written (not replays).")
TRANSCRIPT_REPLAYS = Counter(
    "dhg_registry_transcript_replays_total", "Transcript pushes answered with an earlier result (idempotency)."
)
PUSH_BATCH_SIZE = Histogram(
    "dhg_registry_push_batch_size",
    "Transcript pushes written in one transaction (registry.batching; 1 when pushes come one at a time).",
    buckets=(1, 2, 4, 8, 16, 32, 64),
)
PUSH_BATCH_FAILURES = Counter(
    "dhg_registry_push_batch_failures_total", "Batches of pushes that failed as a whole and were pushed one by one."
)
ASSETS_CREATED = Counter("dhg_registry_assets_created_total", "Media assets uploaded (not de-duplicated).")
ASSET_DEDUPLICATED = Counter("dhg_registry_assets_deduplicated_total", "Uploads matching a stored sha256.")
EMBEDDING_BACKLOG = Gauge(
    "dhg_registry_embedding_backlog_segments",
    "Segments waiting for an embedding (counted up to 10000).",
    multiprocess_mode="livemostrecent",
)
EMBEDDINGS_COMPUTED = Counter("dhg_registry_embeddings_computed_total", "Segment embeddings computed.")
EMBEDDING_BATCH_SECONDS = Histogram(
    "dhg_registry_embedding_batch_duration_seconds",
    "Time to embed one batch of segments.",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
SEARCH_QUERY_BATCH_SIZE = Histogram(
    "dhg_registry_search_query_batch_size",
    "Search queries embedded in one call of the model (registry.embeddings.QueryEncoder; 1 when searches come one "
    "at a time).",
    buckets=(1, 2, 4, 8, 16, 32),
)
EMBEDDER_AVAILABLE = Gauge(
    "dhg_registry_embedder_available",
    "1 when the embedding model is loaded (in every process).",
    multiprocess_mode="livemin",
)
SEARCHES = Counter("dhg_registry_searches_total", "Searches by the mode actually used.", ["mode"])
WEBHOOK_PENDING = Gauge(
    "dhg_registry_webhook_deliveries_pending",
    "Webhook deliveries waiting to be sent.",
    multiprocess_mode="livemostrecent",
)
WEBHOOK_ATTEMPTS = Counter("dhg_registry_webhook_attempts_total", "Webhook delivery attempts by outcome.", ["outcome"])
AUDIT_WRITE_FAILURES = Counter("dhg_registry_audit_write_failures_total", "Audit rows that could not be written.")
