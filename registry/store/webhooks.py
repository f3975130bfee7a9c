"""Webhook subscriptions and their deliveries."""

from __future__ import annotations

import secrets
import uuid

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dhg_contract.schemas import WebhookIn
from registry.models import Webhook, WebhookAttempt, WebhookDelivery
from registry.sealing import SecretBox


async def create(session: AsyncSession, *, body: WebhookIn, created_by: str, box: SecretBox) -> tuple[Webhook, str]:
    """The new subscription and its signing secret (in clear, to show once; the row holds it sealed)."""
    secret = body.secret or secrets.token_urlsafe(32)
    row = Webhook(
        url=str(body.url),
        events=list(body.events),
        secret=box.seal(secret),
        description=body.description,
        created_by=created_by,
    )
    session.add(row)
    await session.flush()
    await session.refresh(row)
    return row, secret


async def reseal(session: AsyncSession, box: SecretBox) -> int:
    """Seal under the current key every secret stored in clear or under an older key; how many were."""
    changed = 0
    for webhook_id, stored in (await session.execute(select(Webhook.id, Webhook.secret).with_for_update())).all():
        if (value := box.resealed(stored)) is not None:
            await session.execute(update(Webhook).where(Webhook.id == webhook_id).values(secret=value))
            changed += 1
    return changed


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


async def delivery(session: AsyncSession, *, webhook_id: uuid.UUID, delivery_id: uuid.UUID) -> WebhookDelivery | None:
    """One delivery of one webhook (None for another webhook's)."""
    row = await session.get(WebhookDelivery, delivery_id)
    return row if row is not None and row.webhook_id == webhook_id else None


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
