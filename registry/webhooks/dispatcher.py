"""Delivers due webhook deliveries: claim with a lease (SKIP LOCKED, so several dispatchers are safe),
POST the signed payload, record the attempt, then mark delivered, retry later with backoff, or dead.
A crash mid-send leaves the lease to expire and the delivery is sent again: at-least-once, with the
delivery id in a header so receivers can de-duplicate."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dhg_core.egress import Blocked, guarded_async_client
from dhg_core.failures import RepeatedFailures
from dhg_core.waiting import wait_for_work
from registry import metrics
from registry.models import Webhook, WebhookAttempt, WebhookDelivery
from registry.sealing import SealingError, SecretBox
from registry.settings import Settings
from registry.webhooks import address_policy, secret_box
from registry.webhooks.backoff import retry_delay
from registry.webhooks.signing import SIGNATURE_HEADER, sign

log = logging.getLogger("registry.webhooks")
BATCH = 20
USER_AGENT = "dhg-registry-webhooks/0.1"


@dataclass(frozen=True)
class Claimed:
    delivery_id: uuid.UUID
    attempt: int
    event: str
    payload: dict[str, Any]
    url: str
    secret: str


async def claim_due(
    session: AsyncSession, *, lease_seconds: float, box: SecretBox | None = None, limit: int = BATCH
) -> list[Claimed]:
    rows = (
        await session.execute(
            select(
                WebhookDelivery.id,
                WebhookDelivery.attempts,
                WebhookDelivery.event,
                WebhookDelivery.payload,
                Webhook.url,
                Webhook.secret,
            )
            .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
            .where(WebhookDelivery.state == "pending", WebhookDelivery.next_attempt_at <= func.now())
            .order_by(WebhookDelivery.next_attempt_at)
            .limit(limit)
            .with_for_update(of=WebhookDelivery, skip_locked=True)
        )
    ).all()
    if rows:
        await session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id.in_([r.id for r in rows]))
            .values(
                next_attempt_at=func.now() + timedelta(seconds=lease_seconds), attempts=WebhookDelivery.attempts + 1
            )
        )
    box = box or SecretBox([])
    return [Claimed(r.id, r.attempts + 1, r.event, r.payload, r.url, _opened(box, r.secret)) for r in rows]


def _opened(box: SecretBox, stored: str) -> str:
    """The signing secret; "" when no configured key opens it (the attempt then fails, saying why)."""
    try:
        return box.open(stored)
    except SealingError as error:
        log.error("cannot sign a webhook delivery: %s", error)
        return ""


async def send(client: httpx.AsyncClient, claimed: Claimed) -> tuple[int | None, str | None, float]:
    """POST one delivery; returns (status code, error, milliseconds)."""
    if not claimed.secret:
        return None, "not delivered: its signing secret cannot be opened with the configured keys", 0.0
    body = orjson.dumps({"id": str(claimed.delivery_id), **claimed.payload})
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "DHG-Event": claimed.event,
        "DHG-Delivery": str(claimed.delivery_id),
        "DHG-Attempt": str(claimed.attempt),
        SIGNATURE_HEADER: sign(claimed.secret, body),
    }
    started = time.perf_counter()
    try:
        response = await client.post(claimed.url, content=body, headers=headers)
    except Blocked as error:  # never connected: nothing of what an internal address would answer is kept
        return None, f"not delivered: {error}"[:500], (time.perf_counter() - started) * 1000
    except httpx.HTTPError as error:
        return None, f"{type(error).__name__}: {error}"[:500], (time.perf_counter() - started) * 1000
    elapsed = (time.perf_counter() - started) * 1000
    if 200 <= response.status_code < 300:
        return response.status_code, None, elapsed
    return response.status_code, f"HTTP {response.status_code}", elapsed


async def record(
    session: AsyncSession,
    claimed: Claimed,
    status: int | None,
    error: str | None,
    duration_ms: float,
    settings: Settings,
) -> str:
    """Store the attempt and the delivery's next state; returns that state."""
    await session.execute(
        insert(WebhookAttempt).values(
            delivery_id=claimed.delivery_id,
            attempt=claimed.attempt,
            status_code=status,
            error=error,
            duration_ms=duration_ms,
        )
    )
    values: dict[str, Any]
    if error is None:
        state, values = "delivered", {"state": "delivered", "delivered_at": func.now(), "last_error": None}
    elif claimed.attempt >= settings.webhook_max_attempts:
        state, values = "dead", {"state": "dead", "last_error": error}
    else:
        delay = retry_delay(
            claimed.attempt, base=settings.webhook_backoff_base_seconds, cap=settings.webhook_backoff_max_seconds
        )
        state, values = (
            "pending",
            {"last_error": error, "next_attempt_at": datetime.now(UTC) + timedelta(seconds=delay)},
        )
    await session.execute(update(WebhookDelivery).where(WebhookDelivery.id == claimed.delivery_id).values(**values))
    metrics.WEBHOOK_ATTEMPTS.labels("success" if error is None else "failure").inc()
    return state


async def dispatch_once(
    sessions: async_sessionmaker[AsyncSession], client: httpx.AsyncClient, settings: Settings
) -> int:
    """Send one batch of due deliveries; returns how many were attempted."""
    async with sessions() as session, session.begin():
        claimed = await claim_due(session, lease_seconds=settings.webhook_timeout_seconds * 3, box=secret_box(settings))
    if not claimed:
        return 0
    results = await asyncio.gather(*(send(client, c) for c in claimed))
    async with sessions() as session, session.begin():
        for item, (status, error, elapsed) in zip(claimed, results, strict=True):
            state = await record(session, item, status, error, elapsed, settings)
            if error:
                log.warning(
                    "webhook delivery failed",
                    extra={
                        "delivery": str(item.delivery_id),
                        "event": item.event,
                        "attempt": item.attempt,
                        "error": error,
                        "next_state": state,
                    },
                )
    return len(claimed)


async def run(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, wakeup: asyncio.Event | None = None
) -> None:
    """Dispatch forever."""
    policy = address_policy(settings)
    failures = RepeatedFailures("the webhook dispatcher's round", log)
    async with guarded_async_client(policy, timeout=settings.webhook_timeout_seconds, follow_redirects=False) as client:
        while True:
            try:
                sent = await dispatch_once(sessions, client, settings)
            except Exception as error:  # the outbox is durable: a failed round is simply tried again
                failures.failed(error)
                sent = 0
                await asyncio.sleep(5)
            else:
                failures.succeeded()
            if sent:
                continue
            await wait_for_work(wakeup, settings.webhook_poll_seconds)
