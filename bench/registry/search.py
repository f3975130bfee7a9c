"""Semantic search latency at N segments, three ways, each over the same queries one at a time:
the model alone (embed the query text), the raw pgvector ANN query (the SQL the Registry sends), and the full
endpoint (HTTP, auth, embedding, ANN, JSON); then each mode of the endpoint (fulltext, semantic, hybrid) side by
side, its latency over the same queries and its recall@10 on the labelled query set (bench/registry/labelled.py)."""

from __future__ import annotations

import asyncio
import time
import urllib.parse
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import psycopg
from pgvector.psycopg import register_vector

from bench.registry import labelled
from bench.registry.client import Connection
from bench.registry.corpus import Corpus
from bench.registry.load import PhaseResult
from registry.embeddings import SentenceTransformerEmbedder
from registry.routes.search import EF_SEARCH

LIMIT = 10
ANN_QUERY = """
SELECT segments.id AS segment_id, segments.transcript_id, transcripts.asset_id, segments.position,
       segments.start, segments."end", segments.text, transcripts.language,
       1 - (segments.embedding <=> %(embedding)s) AS score
FROM segments JOIN transcripts ON transcripts.id = segments.transcript_id
WHERE segments.embedding IS NOT NULL ORDER BY segments.embedding <=> %(embedding)s LIMIT %(limit)s"""
WARMUP_QUERIES = 20


def _timed(
    name: str, queries: Sequence[object], once: Callable[[int], object], meter: Callable[[], dict[str, float]] | None
) -> PhaseResult:
    """Run `once(i)` for each query after a warm-up pass over the first few; latencies in ms."""
    for index in range(min(WARMUP_QUERIES, len(queries))):
        once(index)
    result = PhaseResult(name, "sequential", 0.0, 1)
    before = meter() if meter else {}
    started = time.perf_counter()
    for index in range(len(queries)):
        begun = time.perf_counter()
        once(index)
        result.latencies_ms.append((time.perf_counter() - begun) * 1000)
    result.seconds = time.perf_counter() - started
    after = meter() if meter else {}
    result.cpu_seconds = {key: after[key] - before[key] for key in after}
    return result


def model_only(embedder: SentenceTransformerEmbedder, queries: list[str], threads: int | None = None) -> PhaseResult:
    """Embedding one query text with the model, in this process (the endpoint does the same per request), with
    torch's default intra-op threads (one per core, as in the Registry) or with `threads`."""
    import torch

    default = torch.get_num_threads()
    torch.set_num_threads(threads or default)
    try:
        return _timed("embed query (model only)", queries, lambda i: embedder.encode([queries[i]]), None)
    finally:
        torch.set_num_threads(default)


def raw_ann(
    conninfo: str, corpus: Corpus, vectors: np.ndarray, *, meter: Callable[[], dict[str, float]] | None
) -> tuple[PhaseResult, float]:
    """The Registry's ANN SQL with precomputed query vectors; returns the latencies and recall@10."""
    hits: list[set[uuid.UUID]] = [set() for _ in vectors]
    with psycopg.connect(conninfo) as connection:
        register_vector(connection)

        def once(index: int) -> None:
            with connection.transaction():
                connection.execute(f"SET LOCAL hnsw.ef_search = {EF_SEARCH}")
                connection.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
                rows = connection.execute(ANN_QUERY, {"embedding": vectors[index], "limit": LIMIT}).fetchall()
            hits[index] = {row[0] for row in rows}

        result = _timed("raw pgvector ANN (psycopg)", [""] * len(vectors), once, meter)
    return result, _recall(corpus, vectors, hits)


async def endpoint(
    port: int,
    token: str,
    corpus: Corpus,
    queries: list[str],
    vectors: np.ndarray,
    *,
    meter: Callable[[], dict[str, float]] | None,
) -> tuple[PhaseResult, float, list[str]]:
    """GET /v1/search?mode=semantic for each query, one at a time; returns latencies, recall@10 and the
    modes the server reported (all must be 'semantic')."""
    connection = Connection(port, token)
    bodies: list[bytes] = [b""] * len(queries)
    try:
        for index in range(min(WARMUP_QUERIES, len(queries))):
            await _search(connection, queries[index])
        result = PhaseResult("GET /v1/search (endpoint)", "sequential", 0.0, 1)
        before = meter() if meter else {}
        started = time.perf_counter()
        for index, query in enumerate(queries):
            begun = time.perf_counter()
            bodies[index] = await _search(connection, query)
            result.latencies_ms.append((time.perf_counter() - begun) * 1000)
        result.seconds = time.perf_counter() - started
        after = meter() if meter else {}
        result.cpu_seconds = {key: after[key] - before[key] for key in after}
    finally:
        await connection.close()
    parsed: list[dict[str, Any]] = [orjson.loads(body) for body in bodies]
    hits = [{uuid.UUID(item["segment_id"]) for item in answer["items"]} for answer in parsed]
    return result, _recall(corpus, vectors, hits), sorted({answer["mode"] for answer in parsed})


SEARCH_CONNECTIONS = 8


async def concurrent(
    port: int,
    token: str,
    corpus: Corpus,
    queries: list[str],
    vectors: np.ndarray,
    *,
    connections: int = SEARCH_CONNECTIONS,
    meter: Callable[[], dict[str, float]] | None,
) -> tuple[PhaseResult, float]:
    """GET /v1/search?mode=semantic over the same queries from `connections` clients at once (closed loop: each
    sends its next query as soon as its last is answered): searches per second, latencies, recall@10."""
    pool = [Connection(port, token) for _ in range(connections)]
    bodies: list[bytes] = [b""] * len(queries)
    result = PhaseResult(f"GET /v1/search ({connections} connections)", "closed", 0.0, connections)
    cursor = iter(range(len(queries)))

    async def client(connection: Connection) -> None:
        for index in cursor:  # the shared iterator hands each query to exactly one client
            begun = time.perf_counter()
            bodies[index] = await _search(connection, queries[index])
            result.latencies_ms.append((time.perf_counter() - begun) * 1000)

    try:
        await asyncio.gather(*(_search(connection, queries[0]) for connection in pool))  # connected, warm
        before = meter() if meter else {}
        started = time.perf_counter()
        await asyncio.gather(*(client(connection) for connection in pool))
        result.seconds = time.perf_counter() - started
        after = meter() if meter else {}
        result.cpu_seconds = {key: after[key] - before[key] for key in after}
    finally:
        for connection in pool:
            await connection.close()
    hits = [{uuid.UUID(item["segment_id"]) for item in orjson.loads(body)["items"]} for body in bodies]
    return result, _recall(corpus, vectors, hits)


def model_batched(
    embedder: SentenceTransformerEmbedder, queries: list[str], batch: int = SEARCH_CONNECTIONS, threads: int = 1
) -> PhaseResult:
    """The model alone embedding the queries `batch` at a time on `threads` torch threads (the Registry's
    setting): what the concurrent endpoint's embedding costs at best. Latencies are per batch."""
    import torch

    default = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        groups = [queries[start : start + batch] for start in range(0, len(queries), batch)]
        result = _timed(
            f"embed queries {batch} at a time (model only)", groups, lambda i: embedder.encode(groups[i]), None
        )
    finally:
        torch.set_num_threads(default)
    result.window_completions = len(queries)  # its rate counts queries, not batches
    return result


MODES = ("fulltext", "semantic", "hybrid")
PLANTED_TIMEOUT_SECONDS = 300


@dataclass
class ModeResult:
    mode: str
    latency: PhaseResult
    recall: dict[str, float]  # labelled query kind ("by words", "by meaning", "all") → recall@10


async def plant(connection: Connection) -> str:
    """Store the labelled facts as one transcript and wait until the embedding worker has embedded them all;
    returns the transcript's id."""
    segments = [{"start": 4.0 * i, "end": 4.0 * i + 3.5, "text": fact.text} for i, fact in enumerate(labelled.FACTS)]
    body = orjson.dumps({"job_id": str(uuid.uuid4()), "language": "en", "segments": segments})
    created = await connection.request("POST", "/v1/transcripts", body)
    if created.status not in (200, 201):
        raise RuntimeError(f"POST /v1/transcripts: {created.status} {created.body[:300]!r}")
    transcript = str(orjson.loads(created.body)["id"])
    deadline = time.monotonic() + PLANTED_TIMEOUT_SECONDS
    query = {"q": "x", "mode": "semantic", "limit": len(segments), "transcript_id": transcript}
    while len(orjson.loads(await _search(connection, query))["items"]) < len(segments):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the labelled facts were not embedded within {PLANTED_TIMEOUT_SECONDS} s")
        await asyncio.sleep(0.5)
    return transcript


async def modes(port: int, token: str, queries: list[str]) -> list[ModeResult]:
    """Each mode over the same queries one at a time (latency), and over the labelled queries (recall@10: the share
    whose fact is among the first 10 hits)."""
    connection = Connection(port, token)
    results = []
    try:
        transcript = await plant(connection)
        facts = await _fact_segments(connection, transcript)
        for mode in MODES:
            for index in range(min(WARMUP_QUERIES, len(queries))):
                await _search(connection, {"q": queries[index], "mode": mode, "limit": LIMIT})
            latency = PhaseResult(f"GET /v1/search?mode={mode}", "sequential", 0.0, 1)
            started = time.perf_counter()
            for query in queries:
                begun = time.perf_counter()
                await _search(connection, {"q": query, "mode": mode, "limit": LIMIT})
                latency.latencies_ms.append((time.perf_counter() - begun) * 1000)
            latency.seconds = time.perf_counter() - started
            right: dict[str, list[bool]] = {}
            for kind, text, fact in labelled.queries():
                answer = orjson.loads(await _search(connection, {"q": text, "mode": mode, "limit": LIMIT}))
                found = facts[fact] in {item["segment_id"] for item in answer["items"]}
                right.setdefault(kind, []).append(found)
            right["all"] = [found for kind in list(right) for found in right[kind]]
            results.append(ModeResult(mode, latency, {kind: float(np.mean(hits)) for kind, hits in right.items()}))
    finally:
        await connection.close()
    return results


async def _fact_segments(connection: Connection, transcript: str) -> list[str]:
    """The segment id of each labelled fact, in the facts' order."""
    response = await connection.request("GET", f"/v1/transcripts/{transcript}")
    segments = orjson.loads(response.body)["segments"]
    return [segment["id"] for segment in sorted(segments, key=lambda segment: segment["position"])]


async def _search(connection: Connection, query: str | dict[str, Any]) -> bytes:
    parameters = query if isinstance(query, dict) else {"q": query, "mode": "semantic", "limit": LIMIT}
    path = "/v1/search?" + urllib.parse.urlencode(parameters)
    response = await connection.request("GET", path)
    if response.status != 200:
        raise RuntimeError(f"GET /v1/search: {response.status} {response.body[:300]!r}")
    return response.body


def _recall(corpus: Corpus, vectors: np.ndarray, hits: list[set[uuid.UUID]]) -> float:
    """Mean share of the exact 10 nearest segments (brute force over the stored vectors) that came back."""
    found = [len(corpus.exact_top(vector, LIMIT) & got) / LIMIT for vector, got in zip(vectors, hits, strict=True)]
    return float(np.mean(found)) if found else float("nan")
