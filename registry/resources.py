"""What the Registry holds while it runs, as one typed object: made by create_app (settings, the link signer), opened
by the lifespan (database engine and sessions, the raw connection pool, the push batcher, the token cache) and the
background start (media storage, the embedder, the workers' wake-up events). Routes get it through `ResourcesDep`,
the raw ASGI layers (middleware, hot routes) through `resources_of(app)`: nothing else reads `app.state`."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request

if TYPE_CHECKING:
    from psycopg import AsyncConnection
    from psycopg_pool import AsyncConnectionPool
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

    from registry import wakeup
    from registry.batching import PushBatcher
    from registry.deps import TokenCache
    from registry.embeddings import Embedder, QueryEncoder
    from registry.links import Signer
    from registry.settings import Settings
    from registry.storage import Storage


@dataclass(eq=False)
class Resources:
    settings: Settings
    links: Signer
    # opened by the lifespan (registry/app.py)
    engine: AsyncEngine = field(init=False)
    sessions: async_sessionmaker[AsyncSession] = field(init=False)
    pg: AsyncConnectionPool[AsyncConnection[Any]] = field(init=False)
    pushes: PushBatcher | None = field(init=False, default=None)
    token_cache: TokenCache = field(init=False)
    # started with the background work (registry/background.py)
    storage: Storage = field(init=False)
    embedder: Embedder | None = None
    queries: QueryEncoder | None = None  # the embedder's search queries, batched (set with it)
    embedder_loading: bool = False  # semantic search answers "loading" (503) until the embedder has been tried
    wakeups: dict[wakeup.Loop, asyncio.Event] = field(default_factory=dict)


def resources_of(app: Any) -> Resources:
    """The Registry app's resources (the one thing it keeps on `app.state`)."""
    resources = app.state.resources
    if not isinstance(resources, Resources):
        raise TypeError("not the Registry's app: no Resources on its state")
    return resources


def get_resources(request: Request) -> Resources:
    return resources_of(request.app)


ResourcesDep = Annotated[Resources, Depends(get_resources)]
