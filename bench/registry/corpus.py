"""A search corpus of N segments with real embeddings, loaded straight into PostgreSQL.

Embedding 100k segments through the API would take ~11 minutes on 2 cores (~150 sentences/s). Instead a few
thousand distinct sentences are embedded with the Registry's own model, and each stored segment's vector is a
mixture of two of them (mostly the first, whose text it takes: weight 0.55-1), renormalised, so the HNSW graph
holds N distinct points spread over the space between real sentences. (The corpus used to be copies of each
sentence nudged by noise: 250 near-ties per sentence at 1M, whose exact top 10 is a draw among equals, so a recall
by segment id meant little.) Rows go in with binary COPY; the HNSW index is dropped first and rebuilt after, as
one would for any bulk load.
"""

from __future__ import annotations

import hashlib
import math
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psycopg
from pgvector.psycopg import register_vector

from bench.registry.sentences import distinct_sentences
from bench.registry.workload import MODEL, SEGMENT_SECONDS, SEGMENTS_PER_TRANSCRIPT
from registry.embeddings import SentenceTransformerEmbedder, bundled_model_path

HNSW_INDEX = "ix_segments_embedding_hnsw"
CREATE_HNSW = f"CREATE INDEX {HNSW_INDEX} ON segments USING hnsw (embedding vector_cosine_ops)"
MIX_LOW = 0.55  # a segment's vector: weight U(MIX_LOW, 1) of its sentence, the rest of another one
NOISE_SIGMA = 0.002  # per dimension, on top: no two segments of the same pair and weight coincide
COPY_SEGMENTS = 'COPY segments (id, transcript_id, position, start, "end", text, embedding) FROM STDIN (FORMAT BINARY)'
COPY_TRANSCRIPTS = (
    "COPY transcripts (id, job_id, text, language, model, segment_count, created_by) FROM STDIN (FORMAT BINARY)"
)


def load_embedder(threads: int | None = None) -> SentenceTransformerEmbedder:
    """The Registry's bundled model (all-MiniLM-L6-v2), exactly as its worker loads it."""
    return SentenceTransformerEmbedder(bundled_model_path(), threads=threads)


def embed(embedder: SentenceTransformerEmbedder, texts: list[str], cache_dir: Path | None) -> np.ndarray:
    """Unit vectors (float32) of `texts`; cached on disk by content, since the model is deterministic."""
    key = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]
    cached = cache_dir / f"minilm-{key}.npy" if cache_dir else None
    if cached is not None and cached.exists():
        return np.asarray(np.load(cached), dtype=np.float32)
    vectors = np.asarray(embedder.encode(texts), dtype=np.float32)
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        np.save(cached, vectors)
    return vectors


@dataclass
class Corpus:
    """What was stored: each segment's id, text and vector, in row order (for exact-neighbour recall)."""

    segment_ids: list[uuid.UUID]
    vectors: np.ndarray
    timings: dict[str, float] = field(default_factory=dict)

    def exact_top(self, query: np.ndarray, k: int) -> set[uuid.UUID]:
        scores = self.vectors @ query
        best = np.argpartition(-scores, k)[:k]
        return {self.segment_ids[i] for i in best}


def build(
    conninfo: str,
    *,
    segments: int,
    distinct: int,
    cache_dir: Path | None,
    seed: int = 5,
    embedder: SentenceTransformerEmbedder,
) -> Corpus:
    """Embed `distinct` sentences, COPY `segments` rows made from them, rebuild the HNSW index."""
    started = time.perf_counter()
    texts = distinct_sentences(distinct, seed=seed)
    base = embed(embedder, texts, cache_dir)
    embedded = time.perf_counter()
    rng = np.random.default_rng(seed)
    choice, partner = rng.integers(0, len(texts), segments), rng.integers(0, len(texts), segments)
    weight = rng.uniform(MIX_LOW, 1.0, (segments, 1)).astype(np.float32)
    vectors = weight * base[choice] + (1 - weight) * base[partner]
    vectors += rng.normal(0.0, NOISE_SIGMA, (segments, base.shape[1])).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    segment_ids = [uuid.uuid4() for _ in range(segments)]
    corpus = Corpus(segment_ids, vectors)
    with psycopg.connect(conninfo, autocommit=True) as connection:
        register_vector(connection)
        connection.execute(f"DROP INDEX IF EXISTS {HNSW_INDEX}")
        copy_started = time.perf_counter()
        _copy_rows(connection, corpus, [texts[i] for i in choice])
        copied = time.perf_counter()
        connection.execute("SET maintenance_work_mem = '1GB'")
        connection.execute(CREATE_HNSW)
        indexed = time.perf_counter()
        connection.execute("VACUUM ANALYZE transcripts")
        connection.execute("VACUUM ANALYZE segments")
    corpus.timings = {
        "embed_seconds": round(embedded - started, 2),
        "copy_seconds": round(copied - copy_started, 2),
        "hnsw_build_seconds": round(indexed - copied, 2),
        "vacuum_analyze_seconds": round(time.perf_counter() - indexed, 2),
    }
    return corpus


def _copy_rows(connection: psycopg.Connection[tuple[object, ...]], corpus: Corpus, texts: list[str]) -> None:
    count = len(corpus.segment_ids)
    transcripts = [uuid.uuid4() for _ in range(math.ceil(count / SEGMENTS_PER_TRANSCRIPT))]
    with connection.transaction(), connection.cursor() as cursor:
        with cursor.copy(COPY_TRANSCRIPTS) as copy:
            copy.set_types(["uuid", "uuid", "text", "text", "text", "int4", "text"])
            for number, transcript_id in enumerate(transcripts):
                first = number * SEGMENTS_PER_TRANSCRIPT
                own = texts[first : first + SEGMENTS_PER_TRANSCRIPT]
                copy.write_row((transcript_id, uuid.uuid4(), " ".join(own), "en", MODEL, len(own), "bench-load"))
        with cursor.copy(COPY_SEGMENTS) as copy:
            copy.set_types(["uuid", "uuid", "int4", "float8", "float8", "text", "vector"])
            for row in range(count):
                position = row % SEGMENTS_PER_TRANSCRIPT
                start = position * SEGMENT_SECONDS
                copy.write_row(
                    (
                        corpus.segment_ids[row],
                        transcripts[row // SEGMENTS_PER_TRANSCRIPT],
                        position,
                        start,
                        start + SEGMENT_SECONDS - 0.2,
                        " " + texts[row],
                        corpus.vectors[row],
                    )
                )
