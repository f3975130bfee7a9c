"""Search over transcript segments: semantic (pgvector cosine, HNSW) and full-text (tsvector)."""

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
    await session.execute(text(f"SET LOCAL hnsw.ef_search = {int(ef_search)}"))
    await session.execute(text("SET LOCAL hnsw.iterative_scan = relaxed_order"))
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


BACKLOG_COUNT_CAP = 10_000


async def embedding_backlog(session: AsyncSession, cap: int = BACKLOG_COUNT_CAP) -> int:
    """Segments waiting for an embedding, counted up to `cap` (a bounded index scan: a large backlog is
    reported as `cap`, and a gauge refresh never walks millions of rows while requests wait)."""
    waiting = select(Segment.id).where(Segment.embedding.is_(None)).limit(cap).subquery()
    return await session.scalar(select(func.count()).select_from(waiting)) or 0
