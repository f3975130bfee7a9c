"""What the Registry holds and how its background work keeps up: stored totals, embeddings, search, pushes,
de-duplication, webhooks, and its database (the pool, and postgres_exporter's view when it runs)."""

from __future__ import annotations

from fastapi.routing import APIRoute

from observability import names
from observability.dashboards.board import UP, Board, Target
from observability.dashboards.exprs import increase, quantile, rate, selector, summed
from registry import metrics as registry
from registry.routes import search

UID = "dhg-registry-data"
# Stored totals: every Registry pod (and the embeddings one) counts the same database, so take one, never the sum.
# The route template the HTTP metrics label search requests with, read from the route itself.
SEARCH_ROUTE = next(r.path for r in search.router.routes if isinstance(r, APIRoute) and r.name == "search.segments")


def _one(metric: str) -> str:
    return f"max by (namespace) ({selector(metric)})"


def registry_data() -> Board:
    board = Board(
        UID,
        "DHG AI Factory / Registry data",
        "What the Registry stores, its embedding backlog, search, pushes, webhooks and database connections.",
        namespace_metric=names.exposed(registry.ASSETS),
    )
    _what_it_holds(board)
    _is_it_keeping_up(board)
    _what_comes_in(board)
    _is_search_fast(board)
    _database(board)
    return board


def _what_it_holds(board: Board) -> None:
    board.row("What does it hold?")
    for title, description, unit, metric in (
        ("Assets", "Media assets stored (an upload matching a stored sha256 adds none).", "short", registry.ASSETS),
        ("Media stored", "Bytes of media stored, over every asset.", "bytes", registry.ASSET_BYTES),
        ("Transcripts", "Transcripts stored, one per finished transcription.", "short", registry.TRANSCRIPTS),
        ("Segments", "Transcript segments stored (PostgreSQL's planner estimate).", "short", registry.SEGMENTS),
    ):
        board.stat(title, description, unit, Target(_one(names.exposed(metric)), "{{namespace}}"))


def _is_it_keeping_up(board: Board) -> None:
    board.row("Is it keeping up?")
    board.graph(
        "Embedding backlog",
        "Segments waiting for an embedding (counted up to 10000): semantic search misses them until they are embedded.",
        "short",
        Target(_one(names.exposed(registry.EMBEDDING_BACKLOG)), "{{namespace}}"),
        width=8,
    )
    board.graph(
        "Embeddings computed",
        "Segment embeddings computed per second.",
        "ops",
        Target(summed("namespace", rate(names.exposed(registry.EMBEDDINGS_COMPUTED))), "{{namespace}}"),
        width=8,
    )
    board.stat(
        "Embedder available",
        "1 when some process has the embedding model loaded (semantic search and the embedding loop need it).",
        "bool_yes_no",
        Target(_one(names.exposed(registry.EMBEDDER_AVAILABLE)), "{{namespace}}"),
        width=8,
        steps=UP,
    )
    board.graph(
        "Webhook attempts by outcome",
        "Webhook delivery attempts in each interval, by outcome (success, failure).",
        "short",
        Target(increase(names.exposed(registry.WEBHOOK_ATTEMPTS), "outcome"), "{{outcome}}"),
    )
    board.graph(
        "Webhook deliveries pending",
        "Webhook deliveries waiting to be sent (first tries and retries).",
        "short",
        Target(_one(names.exposed(registry.WEBHOOK_PENDING)), "{{namespace}}"),
    )


def _what_comes_in(board: Board) -> None:
    board.row("What comes in?")
    board.graph(
        "Uploads and de-duplicated uploads",
        "Media assets uploaded per second, and uploads that matched a stored sha256 (nothing new stored).",
        "ops",
        Target(summed("namespace", rate(names.exposed(registry.ASSETS_CREATED))), "uploaded {{namespace}}"),
        Target(summed("namespace", rate(names.exposed(registry.ASSET_DEDUPLICATED))), "de-duplicated {{namespace}}"),
        width=8,
    )
    board.graph(
        "Transcript pushes",
        "Transcripts written per second, pushes answered with an earlier result (replays), and batches of pushes "
        "that failed as a whole and were retried one by one.",
        "ops",
        Target(summed("namespace", rate(names.exposed(registry.TRANSCRIPTS_CREATED))), "written {{namespace}}"),
        Target(summed("namespace", rate(names.exposed(registry.TRANSCRIPT_REPLAYS))), "replayed {{namespace}}"),
        Target(summed("namespace", rate(names.exposed(registry.PUSH_BATCH_FAILURES))), "failed batches {{namespace}}"),
        width=8,
    )
    board.graph(
        "Push batch size p50/p95",
        "Transcript pushes written in one transaction: 1 when pushes come one at a time, more under load.",
        "short",
        Target(quantile(0.5, registry.PUSH_BATCH_SIZE, ""), "p50"),
        Target(quantile(0.95, registry.PUSH_BATCH_SIZE, ""), "p95"),
        width=8,
    )


def _is_search_fast(board: Board) -> None:
    board.row("Is search fast?")
    board.graph(
        "Searches by mode",
        "Searches per second by the mode actually used (semantic, or full-text when no embedder answers).",
        "ops",
        Target(summed("mode", rate(names.exposed(registry.SEARCHES))), "{{mode}}"),
        width=6,
    )
    route = f'route="{SEARCH_ROUTE}"'
    board.graph(
        "Search latency p50/p95/p99",
        f"Duration of {SEARCH_ROUTE} requests (the HTTP histogram of that route).",
        "s",
        *(Target(quantile(q, registry.HTTP_LATENCY, "", route), f"p{round(q * 100)}") for q in (0.5, 0.95, 0.99)),
        width=6,
    )
    board.graph(
        "Search queries per model call p50/p95",
        "Search queries embedded in one call of the model: 1 when searches come one at a time, more when they arrive "
        "together (they share the call).",
        "short",
        Target(quantile(0.5, registry.SEARCH_QUERY_BATCH_SIZE, ""), "p50"),
        Target(quantile(0.95, registry.SEARCH_QUERY_BATCH_SIZE, ""), "p95"),
        width=6,
    )
    board.graph(
        "Embedding batch duration p95",
        "Time to embed one batch of segments, 95th percentile.",
        "s",
        Target(quantile(0.95, registry.EMBEDDING_BATCH_SECONDS, ""), "p95"),
        width=6,
    )


def _database(board: Board) -> None:
    board.row("Is the database keeping up?")
    board.graph(
        "Registry pool connections by state",
        "The Registry's database pool over all its pods: size, checked out (in use), idle, overflow.",
        "short",
        Target(summed("state", selector(names.exposed(registry.DB_POOL))), "{{state}}"),
        width=8,
    )
    board.graph(
        "PostgreSQL connections vs max",
        "Connections PostgreSQL serves (postgres_exporter, all states and databases) against max_connections. "
        "Empty where no exporter runs (local mode, an external database).",
        "short",
        Target(summed("namespace", selector(names.PG_CONNECTIONS)), "connections {{namespace}}", traffic=False),
        Target(_one(names.PG_MAX_CONNECTIONS), "max {{namespace}}", traffic=False),
        width=8,
    )
    board.stat(
        "Database reachable",
        "Registry: its last stored-total queries reached the database. PostgreSQL: postgres_exporter's pg_up "
        "(absent without the exporter).",
        "bool_yes_no",
        Target(f"min by (namespace) ({selector(names.exposed(registry.DATABASE_UP))})", "Registry {{namespace}}"),
        Target(f"min by (namespace) ({selector(names.PG_UP)})", "PostgreSQL {{namespace}}", traffic=False),
        width=8,
        steps=UP,
    )
