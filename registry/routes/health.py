"""Liveness and readiness."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from sqlalchemy import text

from registry.errors import Unavailable
from registry.migrate import head_revision
from registry.resources import ResourcesDep

router = APIRouter(tags=["health"])


@router.get("/healthz", name="health.live")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", name="health.ready")
async def readyz(resources: ResourcesDep) -> dict[str, str]:
    """The database answers, its schema is at the newest migration, and the media storage answers."""
    try:
        async with resources.sessions() as session:
            revision = await session.scalar(text("SELECT version_num FROM alembic_version"))
    except Exception as error:  # any database failure means not ready; the reason goes to the caller
        raise Unavailable(f"The database is not reachable: {type(error).__name__}.") from error
    head = head_revision()
    if revision != head:
        raise Unavailable(f"The database schema is at {revision}, not at {head}: run the migrations.")
    await asyncio.to_thread(resources.storage.check)
    return {"status": "ready", "schema": head}
