"""Webhook subscriptions (admin) and their delivery history."""

from __future__ import annotations

import uuid
from typing import Literal

import httpcore
import httpx
from fastapi import APIRouter, Request, Response

from dhg_contract.schemas import AttemptOut, DeliveryOut, Page, WebhookCreated, WebhookIn, WebhookOut
from dhg_core.egress import AddressPolicy, Blocked
from registry.deps import AdminAccess, PageDep, SessionDep, SettingsDep, record_audit
from registry.errors import InvalidRequest, NotFound
from registry.store import webhooks
from registry.webhooks import address_policy, secret_box

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


@router.post("", name="webhook.create", status_code=201)
async def create_webhook(
    body: WebhookIn, request: Request, session: SessionDep, settings: SettingsDep, who: AdminAccess
) -> WebhookCreated:
    """Subscribe `url` to `events`; deliveries are signed with the returned secret (shown once). A `url` on an
    internal address (loopback, private, link-local) is refused unless the settings allow its network; the
    dispatcher checks again at every delivery, as names can change what they resolve to."""
    await _check_target(str(body.url), address_policy(settings))
    async with session.begin():
        row, secret = await webhooks.create(session, body=body, created_by=who.actor, box=secret_box(settings))
        await record_audit(
            request,
            session,
            action="webhook.create",
            entity_type="webhook",
            entity_id=row.id,
            status_code=201,
            detail={"url": row.url, "events": row.events},
        )
    return WebhookCreated(**WebhookOut.model_validate(row).model_dump(), secret=secret)


async def _check_target(url: str, policy: AddressPolicy) -> None:
    parsed = httpx.URL(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        await policy.resolve_async(parsed.host, port)
    except Blocked as error:
        raise InvalidRequest(
            f"url: {error}.", errors=[{"loc": ["body", "url"], "msg": str(error), "type": "address_refused"}]
        ) from error
    except httpcore.ConnectError:  # not resolvable now: each delivery resolves it (and checks) again
        pass


@router.get("", name="webhook.list")
async def list_webhooks(session: SessionDep, page: PageDep, who: AdminAccess) -> Page[WebhookOut]:
    rows, total = await webhooks.list_page(session, limit=page.limit, offset=page.offset)
    return Page(items=[WebhookOut.model_validate(r) for r in rows], total=total, limit=page.limit, offset=page.offset)


@router.get("/{webhook_id}", name="webhook.get")
async def get_webhook(webhook_id: uuid.UUID, session: SessionDep, who: AdminAccess) -> WebhookOut:
    row = await webhooks.get(session, webhook_id=webhook_id)
    if row is None:
        raise NotFound(f"No webhook {webhook_id}.")
    return WebhookOut.model_validate(row)


@router.delete("/{webhook_id}", name="webhook.delete", status_code=204)
async def delete_webhook(webhook_id: uuid.UUID, request: Request, session: SessionDep, who: AdminAccess) -> Response:
    async with session.begin():
        if not await webhooks.remove(session, webhook_id=webhook_id):
            raise NotFound(f"No webhook {webhook_id}.")
        await record_audit(
            request, session, action="webhook.delete", entity_type="webhook", entity_id=webhook_id, status_code=204
        )
    return Response(status_code=204)


@router.get("/{webhook_id}/deliveries", name="webhook.deliveries")
async def list_deliveries(
    webhook_id: uuid.UUID,
    session: SessionDep,
    page: PageDep,
    who: AdminAccess,
    state: Literal["pending", "delivered", "dead"] | None = None,
) -> Page[DeliveryOut]:
    if await webhooks.get(session, webhook_id=webhook_id) is None:
        raise NotFound(f"No webhook {webhook_id}.")
    rows, total = await webhooks.deliveries(
        session, webhook_id=webhook_id, limit=page.limit, offset=page.offset, state=state
    )
    return Page(items=[DeliveryOut.model_validate(r) for r in rows], total=total, limit=page.limit, offset=page.offset)


@router.get("/{webhook_id}/deliveries/{delivery_id}/attempts", name="webhook.attempts")
async def list_attempts(
    webhook_id: uuid.UUID, delivery_id: uuid.UUID, session: SessionDep, who: AdminAccess
) -> list[AttemptOut]:
    """Every attempt of one delivery of this webhook, in order (404 when either is not there)."""
    if await webhooks.delivery(session, webhook_id=webhook_id, delivery_id=delivery_id) is None:
        raise NotFound(f"No delivery {delivery_id} of webhook {webhook_id}.")
    return [AttemptOut.model_validate(r) for r in await webhooks.attempts(session, delivery_id=delivery_id)]
