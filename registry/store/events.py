"""Domain events: written into the webhook outbox in the same transaction as the change they announce."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import any_, insert, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from dhg_contract.schemas import EventType
from registry import wakeup
from registry.models import Webhook, WebhookDelivery


async def emit(session: AsyncSession, *, event: EventType, data: dict[str, Any]) -> None:
    """Queue `event` for every active subscription to it (one INSERT ... SELECT, no round trip per hook)."""
    payload = {"type": event, "created_at": datetime.now(UTC).isoformat(), "data": data}
    subscribers = select(Webhook.id, literal(event), literal(payload, type_=WebhookDelivery.payload.type)).where(
        Webhook.active.is_(True), literal(event) == any_(Webhook.events)
    )
    result = await session.execute(insert(WebhookDelivery).from_select(["webhook_id", "event", "payload"], subscribers))
    if result.rowcount:  # type: ignore[attr-defined]
        wakeup.queued("webhooks")
