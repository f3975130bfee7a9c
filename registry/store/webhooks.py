"""Webhook subscriptions and their deliveries."""

from __future__ import annotations

import secrets
import uuid

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from registry.models import Webhook, WebhookAttempt, WebhookDelivery
from registry.schemas import WebhookIn


async def create(session: AsyncSession, *, body: WebhookIn, created_by: str) -> Webhook:
    row = Webhook(
        url=str(body.url),
        events=list(body.events),
        secret=body.secret or secrets.token_urlsafe(32),
        description=body.description,
        created_by=created_by,
    )
    session.add(row)
    await session.flush()
    await session.refresh(row)
    return row


async def get(session: AsyncSession, *, webhook_id: uuid.UUID) -> Webhook | None:
    return await session.get(Webhook, webhook_id)


async def list_page(session: AsyncSession, *, limit: int, offset: int) -> tuple[list[Webhook], int]:
    total = await session.scalar(select(func.count()).select_from(Webhook)) or 0
    rows = await session.scalars(select(Webhook).order_by(Webhook.created_at.desc()).limit(limit).offset(offset))
    return list(rows), total


async def remove(session: AsyncSession, *, webhook_id: uuid.UUID) -> bool:
    result = await session.execute(delete(Webhook).where(Webhook.id == webhook_id).returning(Webhook.id))
    return result.scalar_one_or_none() is not None


async def deliveries(
    session: AsyncSession, *, webhook_id: uuid.UUID, limit: int, offset: int, state: str | None = None
) -> tuple[list[WebhookDelivery], int]:
    conditions = [WebhookDelivery.webhook_id == webhook_id]
    if state:
        conditions.append(WebhookDelivery.state == state)
    total = await session.scalar(select(func.count()).select_from(WebhookDelivery).where(*conditions)) or 0
    rows = await session.scalars(
        select(WebhookDelivery)
        .where(*conditions)
        .order_by(WebhookDelivery.created_at.desc())
        .limit(limit)
        .offset(offset)
    )
    return list(rows), total


async def attempts(session: AsyncSession, *, delivery_id: uuid.UUID) -> list[WebhookAttempt]:
    rows = await session.scalars(
        select(WebhookAttempt).where(WebhookAttempt.delivery_id == delivery_id).order_by(WebhookAttempt.attempt)
    )
    return list(rows)


async def pending_count(session: AsyncSession) -> int:
    return (
        await session.scalar(
            select(func.count()).select_from(WebhookDelivery).where(WebhookDelivery.state == "pending")
        )
        or 0
    )
