"""Liveness and readiness (the default model is loaded)."""

from __future__ import annotations

from fastapi import APIRouter

from asr.deps import ServiceDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(service: ServiceDep) -> dict[str, str]:
    engine = service.ready_engine()
    return {"status": "ready", "model": engine.model, "engine": engine.name, "device": engine.device}
