"""Media asset rows (the bytes live in `registry.storage`)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from registry.models import Asset, AssetUpload

# The first key of the advisory locks on stored bytes (the second is the sha256's hash), so that they can never
# be mistaken for another use of advisory locks in the same database.
BYTES_LOCK_CLASS = 0x61737374  # "asst"
# How long an upload's claim keeps its bytes from being removed as unclaimed: past it, the upload is taken to
# have died (a process killed between storing its bytes and recording them), and its claim is forgotten.
CLAIM_SECONDS = 6 * 3600


async def lock_bytes(session: AsyncSession, *, sha256: str) -> None:
    """Hold, until the transaction ends, the lock on the bytes of `sha256`: an upload that checks for them, stores
    them and inserts their row, and a delete that checks that no row names them and removes them, never interleave
    (across server processes too), so a delete never removes the bytes of an asset uploaded meanwhile."""
    await session.execute(select(func.pg_advisory_xact_lock(BYTES_LOCK_CLASS, func.hashtext(sha256))))


async def claim_bytes(session: AsyncSession, *, sha256: str) -> uuid.UUID:
    """Say (under the bytes' lock, taken here) that an upload is about to store the bytes of `sha256`: until it
    releases the claim, they are not removed as unclaimed. Dead uploads' claims of the same bytes go."""
    await lock_bytes(session, sha256=sha256)
    await session.execute(
        delete(AssetUpload).where(AssetUpload.sha256 == sha256, AssetUpload.started_at < _claims_since())
    )
    return (await session.execute(insert(AssetUpload).values(sha256=sha256).returning(AssetUpload.id))).scalar_one()


async def release_claim(session: AsyncSession, *, claim: uuid.UUID) -> None:
    await session.execute(delete(AssetUpload).where(AssetUpload.id == claim))


async def unclaimed(session: AsyncSession, *, sha256: str) -> bool:
    """Whether no asset row names the bytes of `sha256` and no live upload is storing them (lock held): then
    they may be removed."""
    if await by_sha256(session, sha256=sha256) is not None:
        return False
    live = select(AssetUpload.id).where(AssetUpload.sha256 == sha256, AssetUpload.started_at >= _claims_since())
    return (await session.execute(live.limit(1))).first() is None


def _claims_since() -> Any:
    return func.now() - func.make_interval(0, 0, 0, 0, 0, 0, CLAIM_SECONDS)


async def by_sha256(session: AsyncSession, *, sha256: str) -> Asset | None:
    return (await session.execute(select(Asset).where(Asset.sha256 == sha256))).scalar_one_or_none()


async def get(session: AsyncSession, *, asset_id: uuid.UUID) -> Asset | None:
    return await session.get(Asset, asset_id)


async def create(
    session: AsyncSession,
    *,
    sha256: str,
    size_bytes: int,
    content_type: str,
    filename: str | None,
    duration_seconds: float | None,
    storage_key: str,
    created_by: str,
) -> tuple[Asset, bool]:
    """Insert unless the sha256 is already stored; returns (asset, created)."""
    statement = (
        insert(Asset)
        .values(
            sha256=sha256,
            size_bytes=size_bytes,
            content_type=content_type,
            filename=filename,
            duration_seconds=duration_seconds,
            storage_key=storage_key,
            created_by=created_by,
        )
        .on_conflict_do_nothing(index_elements=[Asset.sha256])
        .returning(Asset)
    )
    created = (await session.execute(statement)).scalar_one_or_none()
    if created is not None:
        return created, True
    existing = await by_sha256(session, sha256=sha256)
    assert existing is not None
    return existing, False


async def list_page(
    session: AsyncSession, *, limit: int, offset: int, content_type: str | None = None
) -> tuple[list[Asset], int]:
    conditions = [Asset.content_type.startswith(content_type)] if content_type else []
    total = await session.scalar(select(func.count()).select_from(Asset).where(*conditions)) or 0
    rows = await session.scalars(
        select(Asset).where(*conditions).order_by(Asset.created_at.desc(), Asset.id).limit(limit).offset(offset)
    )
    return list(rows), total


async def remove(session: AsyncSession, *, asset_id: uuid.UUID) -> Asset | None:
    return (await session.execute(delete(Asset).where(Asset.id == asset_id).returning(Asset))).scalar_one_or_none()
