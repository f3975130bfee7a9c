"""API tokens (admin only)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, status

from dhg_contract.schemas import Page, TokenCreate, TokenCreated, TokenOut
from registry.deps import AdminAccess, PageDep, SessionDep, record_audit
from registry.errors import NotFound
from registry.resources import ResourcesDep
from registry.store import tokens

router = APIRouter(prefix="/v1/tokens", tags=["tokens"])


@router.post("", status_code=status.HTTP_201_CREATED, name="token.create")
async def create_token(body: TokenCreate, request: Request, session: SessionDep, who: AdminAccess) -> TokenCreated:
    async with session.begin():
        row, token = await tokens.create(session, name=body.name, scopes=body.scopes, created_by=who.actor)
        await record_audit(
            request,
            session,
            action="token.create",
            entity_type="token",
            entity_id=row.id,
            status_code=201,
            detail={"name": row.name, "scopes": row.scopes},
        )
    return TokenCreated(**TokenOut.model_validate(row).model_dump(), token=token)


@router.get("", name="token.list")
async def list_tokens(session: SessionDep, page: PageDep, who: AdminAccess) -> Page[TokenOut]:
    rows, total = await tokens.list_all(session, limit=page.limit, offset=page.offset)
    return Page(items=[TokenOut.model_validate(r) for r in rows], total=total, limit=page.limit, offset=page.offset)


@router.delete("/{token_id}", name="token.revoke")
async def revoke_token(
    token_id: uuid.UUID, request: Request, session: SessionDep, resources: ResourcesDep, who: AdminAccess
) -> TokenOut:
    async with session.begin():
        row = await tokens.revoke(session, token_id=token_id)
        if row is None:
            raise NotFound(f"No token {token_id}.")
        await record_audit(
            request, session, action="token.revoke", entity_type="token", entity_id=token_id, status_code=200
        )
    resources.token_cache.clear()
    return TokenOut.model_validate(row)
