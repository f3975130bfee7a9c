"""The audit log (read-only over HTTP; the database refuses UPDATE and DELETE)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from dhg_contract.schemas import AuditOut, Page
from registry.deps import AdminAccess, PageDep, SessionDep
from registry.store import audit

router = APIRouter(prefix="/v1/audit", tags=["audit"])


@router.get("", name="audit.list")
async def list_audit(
    session: SessionDep,
    page: PageDep,
    who: AdminAccess,
    actor: Annotated[str | None, Query(max_length=200)] = None,
    action: Annotated[str | None, Query(max_length=100)] = None,
    entity_id: Annotated[str | None, Query(max_length=100)] = None,
    outcome: Literal["ok", "refused", "error"] | None = None,
    after_seq: Annotated[
        int | None, Query(ge=0, le=2**63 - 1, description="Cursor: entries after this seq, oldest first.")
    ] = None,
) -> Page[AuditOut]:
    """Newest first; with `after_seq`, oldest first from that cursor (for tailing)."""
    rows, total = await audit.search(
        session,
        limit=page.limit,
        offset=page.offset,
        actor=actor,
        action=action,
        entity_id=entity_id,
        outcome=outcome,
        after_seq=after_seq,
    )
    return Page(items=[AuditOut.model_validate(r) for r in rows], total=total, limit=page.limit, offset=page.offset)
