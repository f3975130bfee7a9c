"""create_app for the ASR service: models, the bounded queue, delivery to the Registry, errors, metrics."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from prometheus_client import make_asgi_app
from starlette.exceptions import HTTPException as StarletteHTTPException

from asr import metrics
from asr.admission import Admission
from asr.delivery import make_delivery
from asr.errors import AsrError, InvalidRequest
from asr.jobs import JobTable
from asr.middleware import RequestContextMiddleware
from asr.models import ModelManager
from asr.routes import health, transcriptions
from asr.settings import Settings, get_settings
from core.problems import install_problem_handlers

log = logging.getLogger("asr")


def _invalid(error: RequestValidationError) -> AsrError:
    fields = ", ".join(".".join(str(p) for p in e.get("loc", ())[1:]) or "body" for e in error.errors())
    errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg")} for e in error.errors()]
    return InvalidRequest(f"invalid or missing field(s): {fields}", errors=errors)


def _http(request: Request, error: StarletteHTTPException) -> AsrError:
    generic = InvalidRequest(str(error.detail))
    generic.status = error.status_code
    return generic


def install_error_handlers(app: FastAPI) -> None:
    install_problem_handlers(
        app,
        internal=lambda: AsrError("an unexpected error occurred; see the server log"),
        invalid=_invalid,
        http=_http,
    )


async def _load_default_model(app: FastAPI) -> None:
    try:
        engine = await anyio.to_thread.run_sync(app.state.models.get, None)
    except AsrError as error:
        app.state.load_error = error.detail
        log.error("the default model could not be loaded", extra={"error": error.detail})
        return
    app.state.default_engine = engine
    metrics.DEVICE.labels(engine.device).set(1)


async def _unload_idle(app: FastAPI) -> None:
    while True:
        await asyncio.sleep(max(1.0, app.state.settings.model_idle_seconds / 10))
        app.state.models.unload_idle()


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    tasks = [
        asyncio.create_task(coroutine)
        for coroutine in (_load_default_model(app), app.state.delivery.run(), _unload_idle(app))
    ]
    try:
        yield
    finally:
        for task in [*tasks, *app.state.job_tasks]:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*tasks, *app.state.job_tasks, return_exceptions=True)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        title="DHG ASR",
        version="0.1.0",
        lifespan=lifespan,
        summary="Whisper speech recognition with an OpenAI-compatible API.",
    )
    app.state.settings = settings
    app.state.models = ModelManager(settings)
    app.state.admission = Admission(settings.concurrency, settings.queue_size, settings.retry_after_seconds)
    app.state.delivery = make_delivery(settings)
    app.state.default_engine = None
    app.state.jobs = JobTable(settings.job_retention_seconds)
    app.state.job_tasks = set()
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(transcriptions.router)
    app.mount("/metrics", make_asgi_app())
    app.add_middleware(RequestContextMiddleware)
    return app
