"""Search over transcript segments: semantic (embeddings + pgvector) with full-text as the fallback."""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request

from registry import metrics
from registry.deps import ReadAccess, SessionDep
from registry.errors import Unavailable
from registry.schemas import SearchHit, SearchResult
from registry.store import search

router = APIRouter(prefix="/v1/search", tags=["search"])
EF_SEARCH = 64
MODEL_LOADING_RETRY_SECONDS = 5


@router.get("", name="search.segments")
async def search_segments(
    request: Request,
    session: SessionDep,
    who: ReadAccess,
    q: Annotated[str, Query(min_length=1, max_length=1000, description="What to look for.")],
    mode: Annotated[
        Literal["auto", "semantic", "fulltext"],
        Query(description="auto: semantic when the embedding model is loaded, else fulltext."),
    ] = "auto",
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    language: Annotated[str | None, Query(max_length=32)] = None,
    transcript_id: uuid.UUID | None = None,
    asset_id: uuid.UUID | None = None,
    speaker: Annotated[
        str | None, Query(min_length=1, max_length=64, description="Only this speaker's segments.")
    ] = None,
    min_score: Annotated[float | None, Query(ge=-1, le=1)] = None,
) -> SearchResult:
    """Segments closest to `q`, best first, each with its score and time span."""
    embedder = request.app.state.embedder
    if mode == "semantic" and embedder is None:
        if request.app.state.embedder_loading:
            raise Unavailable(
                "Semantic search starts once the embedding model is loaded; retry shortly, or use mode=fulltext.",
                retry_after=MODEL_LOADING_RETRY_SECONDS,
            )
        raise Unavailable("Semantic search is unavailable: the embedding model is not loaded. Use mode=fulltext.")
    filters = search.Filters(language=language, transcript_id=transcript_id, asset_id=asset_id, speaker=speaker)
    if mode != "fulltext" and embedder is not None:
        vector = (await asyncio.to_thread(embedder.encode, [q]))[0]
        async with session.begin():
            rows = await search.semantic(
                session,
                embedding=vector,
                limit=limit,
                ef_search=max(EF_SEARCH, limit),
                min_score=min_score,
                filters=filters,
            )
        used = "semantic"
    else:
        rows = await search.fulltext(session, query=q, limit=limit, filters=filters)
        used = "fulltext"
    metrics.SEARCHES.labels(used).inc()
    return SearchResult(query=q, mode=used, items=[SearchHit.model_validate(r) for r in rows])  # type: ignore[arg-type]
