"""The audit log: append-only rows (the database refuses UPDATE and DELETE)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from registry.inputs import text_problem
from registry.models import AuditEntry


def storable(value: Any) -> Any:
    """`value` with NUL and lone surrogates in its strings (and keys) written as escapes PostgreSQL can hold."""
    if isinstance(value, str):
        return value if text_problem(value) is None else _escaped(value)
    if isinstance(value, dict):
        return {storable(key): storable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [storable(item) for item in value]
    return value


def _escaped(value: str) -> str:
    return value.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode()


async def record(
    session: AsyncSession,
    *,
    actor: str,
    action: str,
    outcome: str,
    status_code: int,
    method: str,
    path: str,
    request_id: str | None,
    entity_type: str | None = None,
    entity_id: object | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    await session.execute(
        insert(AuditEntry).values(
            actor=actor,
            action=action,
            outcome=outcome,
            status_code=status_code,
            method=storable(method),
            path=storable(path),  # a refused request's path may hold what PostgreSQL cannot (a NUL): shown escaped
            request_id=request_id,
            entity_type=entity_type,
            entity_id=None if entity_id is None else str(entity_id),
            detail=storable(detail or {}),
        )
    )


async def search(
    session: AsyncSession,
    *,
    limit: int,
    offset: int,
    actor: str | None = None,
    action: str | None = None,
    entity_id: str | None = None,
    outcome: str | None = None,
    after_seq: int | None = None,
) -> tuple[list[AuditEntry], int]:
    conditions = []
    if actor:
        conditions.append(AuditEntry.actor == actor)
    if action:
        conditions.append(AuditEntry.action == action)
    if entity_id:
        conditions.append(AuditEntry.entity_id == entity_id)
    if outcome:
        conditions.append(AuditEntry.outcome == outcome)
    if after_seq is not None:
        conditions.append(AuditEntry.seq > after_seq)
    total = await session.scalar(select(func.count()).select_from(AuditEntry).where(*conditions)) or 0
    order = AuditEntry.seq.asc() if after_seq is not None else AuditEntry.seq.desc()
    rows = await session.scalars(select(AuditEntry).where(*conditions).order_by(order).limit(limit).offset(offset))
    return list(rows), total
