"""Liveness and readiness (the default model is loaded)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from asr.errors import NotReady

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> dict[str, str]:
    engine = getattr(request.app.state, "default_engine", None)
    if engine is None:
        error = getattr(request.app.state, "load_error", None)
        raise NotReady(f"the default model is not loaded{': ' + error if error else ' yet'}")
    return {"status": "ready", "model": engine.model, "engine": engine.name, "device": engine.device}
