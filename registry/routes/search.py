"""Search over transcript segments: hybrid (full-text and semantic, fused), semantic or full-text alone."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from dhg_contract.schemas import SearchHit, SearchMode, SearchResult
from registry import metrics
from registry.deps import ReadAccess, SessionDep
from registry.errors import Unavailable
from registry.resources import ResourcesDep
from registry.store import search

router = APIRouter(prefix="/v1/search", tags=["search"])
EF_SEARCH = 64
MODEL_LOADING_RETRY_SECONDS = 5


@router.get("", name="search.segments")
async def search_segments(
    resources: ResourcesDep,
    session: SessionDep,
    who: ReadAccess,
    q: Annotated[str, Query(min_length=1, max_length=1000, description="What to look for.")],
    mode: Annotated[
        Literal["auto", "hybrid", "semantic", "fulltext"],
        Query(
            description="hybrid: full-text and semantic hits fused by reciprocal rank; semantic: by meaning only; "
            "fulltext: by words only (any of them, stemmed); auto: hybrid when the embedding model is loaded, else "
            "fulltext. The answer's `mode` says which ran."
        ),
    ] = "auto",
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    language: Annotated[str | None, Query(max_length=32)] = None,
    transcript_id: uuid.UUID | None = None,
    asset_id: uuid.UUID | None = None,
    speaker: Annotated[
        str | None, Query(min_length=1, max_length=64, description="Only this speaker's segments.")
    ] = None,
    min_score: Annotated[
        float | None, Query(ge=-1, le=1, description="The least cosine similarity of a semantic hit.")
    ] = None,
) -> SearchResult:
    """Segments matching `q`, best first, each with its score and time span."""
    queries = resources.queries
    if mode == "semantic" and queries is None:
        if resources.embedder_loading:
            raise Unavailable(
                "Semantic search starts once the embedding model is loaded; retry shortly, or use mode=fulltext.",
                retry_after=MODEL_LOADING_RETRY_SECONDS,
            )
        raise Unavailable("Semantic search is unavailable: the embedding model is not loaded. Use mode=fulltext.")
    filters = search.Filters(language=language, transcript_id=transcript_id, asset_id=asset_id, speaker=speaker)
    used: SearchMode
    if mode == "fulltext" or queries is None:  # hybrid without the model: its full-text half, said in `mode`
        used = "fulltext"
    elif mode == "semantic":
        used = "semantic"
    else:
        used = "hybrid"
    if used == "fulltext":
        rows = await search.fulltext(session, query=q, limit=limit, filters=filters)
    else:
        assert queries is not None  # the full-text branch above takes a missing model
        vector = await queries.encode(q)  # with the other searches waiting for the model, in one call
        ef_search = max(EF_SEARCH, limit)
        async with session.begin():
            if used == "hybrid":
                rows = await search.hybrid(
                    session, query=q, embedding=vector, limit=limit, ef_search=ef_search, filters=filters,
                    min_score=min_score,
                )  # fmt: skip
            else:
                rows = await search.semantic(
                    session, embedding=vector, limit=limit, ef_search=ef_search, min_score=min_score, filters=filters
                )
    metrics.SEARCHES.labels(used).inc()
    return SearchResult(query=q, mode=used, items=[SearchHit.model_validate(r) for r in rows])
