"""Search over transcript segments: semantic (pgvector cosine, HNSW) and full-text (tsvector)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

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


async def fulltext(
    session: AsyncSession,
    *,
    query: str,
    limit: int,
    filters: Filters = Filters(),
) -> list[dict[str, Any]]:
    tsquery = func.websearch_to_tsquery("english", query)
    rank = func.ts_rank_cd(Segment.tsv, tsquery)
    statement = (
        select(*HIT_COLUMNS, rank.label("score"))
        .join(Transcript, Transcript.id == Segment.transcript_id)
        .where(Segment.tsv.op("@@")(tsquery), *filters.conditions())
        .order_by(rank.desc(), Segment.id)
        .limit(limit)
    )
    return [dict(r) for r in (await session.execute(statement)).mappings()]


BACKLOG_COUNT_CAP = 10_000


async def embedding_backlog(session: AsyncSession, cap: int = BACKLOG_COUNT_CAP) -> int:
    """Segments waiting for an embedding, counted up to `cap` (a bounded index scan: a large backlog is
    reported as `cap`, and a gauge refresh never walks millions of rows while requests wait)."""
    waiting = select(Segment.id).where(Segment.embedding.is_(None)).limit(cap).subquery()
    return await session.scalar(select(func.count()).select_from(waiting)) or 0
