"""Search over transcript segments: semantic (pgvector cosine, HNSW), full-text (tsvector), and hybrid: both
fused by reciprocal rank (each hit scores the sum over the two rankings of 1 / (RRF_K + its rank there))."""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, cast, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from registry.models import Segment, Transcript

HIT_COLUMNS = [
    Segment.id.label("segment_id"),
    Segment.transcript_id,
    Transcript.asset_id,
    Segment.position,
    Segment.start,
    Segment.end,
    Segment.text,
    Transcript.language,
    Segment.speaker,
]


@dataclass(frozen=True)
class Filters:
    language: str | None = None
    transcript_id: uuid.UUID | None = None
    asset_id: uuid.UUID | None = None
    speaker: str | None = None

    def conditions(self) -> list[Any]:
        conditions: list[Any] = []
        if self.language:
            conditions.append(Transcript.language == self.language)
        if self.transcript_id:
            conditions.append(Segment.transcript_id == self.transcript_id)
        if self.asset_id:
            conditions.append(Transcript.asset_id == self.asset_id)
        if self.speaker:
            conditions.append(Segment.speaker == self.speaker)
        return conditions


async def semantic(
    session: AsyncSession,
    *,
    embedding: Sequence[float],
    limit: int,
    ef_search: int,
    filters: Filters = Filters(),
    min_score: float | None = None,
) -> list[dict[str, Any]]:
    """Nearest segments by cosine distance; filters are applied with pgvector's iterative scan so a
    selective filter still returns `limit` hits."""
    distance = Segment.embedding.cosine_distance(list(embedding))
    await session.execute(  # both settings in one round trip, for this transaction only (SET LOCAL)
        text(
            "SELECT set_config('hnsw.ef_search', :ef, true), set_config('hnsw.iterative_scan', 'relaxed_order', true)"
        ),
        {"ef": str(int(ef_search))},
    )
    statement = (
        select(*HIT_COLUMNS, (1 - distance).label("score"))
        .join(Transcript, Transcript.id == Segment.transcript_id)
        .where(Segment.embedding.is_not(None), *filters.conditions())
        .order_by(distance)
        .limit(limit)
    )
    rows = [dict(r) for r in (await session.execute(statement)).mappings()]
    rows.sort(key=lambda r: -r["score"])  # relaxed_order may return near-ties slightly out of order
    if min_score is not None:
        rows = [r for r in rows if r["score"] >= min_score]
    return rows


MAX_QUERY_WORDS = 32  # a longer query is searched by its first 32 words
WORD = re.compile(r"\w+")


def query_words(query: str) -> list[str]:
    """The words of a full-text query, in order, each once (PostgreSQL stems them and drops stop words)."""
    return list(dict.fromkeys(word.lower() for word in WORD.findall(query)))[:MAX_QUERY_WORDS]


async def fulltext(
    session: AsyncSession,
    *,
    query: str,
    limit: int,
    filters: Filters = Filters(),
) -> list[dict[str, Any]]:
    """Segments holding any of the query's words (stemmed: "scoring goals" finds "scored a goal"): those holding more
    of them first, then the closer together (cover density), then in a fixed order (the segment's id)."""
    words: list[ColumnElement[Any]] = [func.plainto_tsquery("english", word) for word in query_words(query)]
    if not words:
        return []
    matches_any = functools.reduce(lambda left, right: left.op("||")(right), words)
    held: list[ColumnElement[int]] = [cast(Segment.tsv.op("@@")(word), Integer) for word in words]
    matched = functools.reduce(lambda left, right: left + right, held)
    rank = func.ts_rank_cd(Segment.tsv, matches_any)
    statement = (
        select(*HIT_COLUMNS, rank.label("score"))
        .join(Transcript, Transcript.id == Segment.transcript_id)
        .where(Segment.tsv.op("@@")(matches_any), *filters.conditions())
        .order_by(matched.desc(), rank.desc(), Segment.id)
        .limit(limit)
    )
    return [dict(r) for r in (await session.execute(statement)).mappings()]


RRF_K = 60  # the constant of Cormack, Clarke and Büttcher's reciprocal rank fusion (SIGIR 2009)
HYBRID_DEPTH = 50  # how deep each ranking is read before fusing (at least the page asked for)


def fuse(rankings: Sequence[Sequence[dict[str, Any]]], limit: int, k: int = RRF_K) -> list[dict[str, Any]]:
    """Reciprocal rank fusion of best-first rankings of hits: a hit's score is the sum over the rankings that hold
    it of 1 / (k + its rank, from 1); best first, ties by segment id (the same order every time)."""
    scores: dict[uuid.UUID, float] = {}
    hits: dict[uuid.UUID, dict[str, Any]] = {}
    for ranking in rankings:
        for rank, hit in enumerate(ranking, start=1):
            key = hit["segment_id"]
            scores[key] = scores.get(key, 0.0) + 1.0 / (k + rank)
            hits.setdefault(key, hit)
    order = sorted(scores, key=lambda key: (-scores[key], str(key)))[:limit]
    return [{**hits[key], "score": scores[key]} for key in order]


async def hybrid(
    session: AsyncSession,
    *,
    query: str,
    embedding: Sequence[float],
    limit: int,
    ef_search: int,
    filters: Filters = Filters(),
    min_score: float | None = None,
) -> list[dict[str, Any]]:
    """Full-text and semantic hits fused (`fuse`): a segment is found by its words before it has an embedding, and
    by its meaning without sharing a word. `min_score` bounds the semantic similarity of the semantic side."""
    depth = max(HYBRID_DEPTH, limit)
    by_words = await fulltext(session, query=query, limit=depth, filters=filters)
    by_meaning = await semantic(
        session, embedding=embedding, limit=depth, ef_search=max(ef_search, depth), filters=filters, min_score=min_score
    )
    return fuse([by_words, by_meaning], limit)


BACKLOG_COUNT_CAP = 10_000


async def embedding_backlog(session: AsyncSession, cap: int = BACKLOG_COUNT_CAP) -> int:
    """Segments waiting for an embedding, counted up to `cap` (a bounded index scan: a large backlog is
    reported as `cap`, and a gauge refresh never walks millions of rows while requests wait)."""
    waiting = select(Segment.id).where(Segment.embedding.is_(None)).limit(cap).subquery()
    return await session.scalar(select(func.count()).select_from(waiting)) or 0
