"""API tokens."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from registry.auth import hash_token, new_token
from registry.models import ApiToken


async def create(session: AsyncSession, *, name: str, scopes: Sequence[str], created_by: str) -> tuple[ApiToken, str]:
    """Store a new token's hash; returns the row and the plain token (shown once)."""
    token = new_token()
    row = ApiToken(name=name, scopes=list(scopes), token_hash=hash_token(token), created_by=created_by)
    session.add(row)
    await session.flush()
    await session.refresh(row)
    return row, token


async def find_active(session: AsyncSession, *, token: str) -> ApiToken | None:
    result = await session.execute(
        select(ApiToken).where(ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None))
    )
    return result.scalar_one_or_none()


async def revoke(session: AsyncSession, *, token_id: uuid.UUID) -> ApiToken | None:
    result = await session.execute(
        update(ApiToken)
        .where(ApiToken.id == token_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=func.now())
        .returning(ApiToken)
    )
    row = result.scalar_one_or_none()
    if row is None:
        row = await session.get(ApiToken, token_id)
    return row


async def list_all(session: AsyncSession, *, limit: int, offset: int) -> tuple[list[ApiToken], int]:
    total = await session.scalar(select(func.count()).select_from(ApiToken)) or 0
    rows = await session.scalars(select(ApiToken).order_by(ApiToken.created_at.desc()).limit(limit).offset(offset))
    return list(rows), total
