"""create_app for the ASR service: its one TranscriptionService (models, the bounded queue, delivery to the
Registry, async jobs), its routes, errors and metrics."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from prometheus_client import make_asgi_app
from starlette.exceptions import HTTPException as StarletteHTTPException

from asr.errors import AsrError, InvalidRequest
from asr.middleware import RequestContextMiddleware
from asr.routes import health, models, realtime, transcriptions
from asr.service import TranscriptionService
from asr.settings import Settings, get_settings
from dhg_core.apidocs import install_api_docs
from dhg_core.problems import common_statuses, document_problems, install_problem_handlers


def _invalid(error: RequestValidationError) -> AsrError:
    fields = ", ".join(".".join(str(p) for p in e.get("loc", ())[1:]) or "body" for e in error.errors())
    errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg")} for e in error.errors()]
    return InvalidRequest(f"invalid or missing field(s): {fields}", errors=errors)


def _http(request: Request, error: StarletteHTTPException) -> AsrError:
    generic = InvalidRequest(str(error.detail))
    generic.status = error.status_code
    return generic


def error_statuses(method: str, path: str, operation: dict[str, Any]) -> set[int]:
    """The ASR service's error answers per operation (for its OpenAPI document)."""
    found = common_statuses(method, path, operation)
    if 422 in found:  # a request that does not validate is a 400 here, as OpenAI answers it
        found = (found - {422}) | {400}
    if path == "/readyz":
        found.add(503)
    if method == "POST":  # audio in: bad audio or options (400), a model not served (404), too large or long
        found |= {400, 404, 413, 415, 429, 503}  # (413), not multipart (415), the queue full (429), not ready (503)
    if path.startswith("/v1/audio/jobs/"):
        found |= {404, 409}
    if path.startswith("/v1/models/"):
        found.add(404)
    return found


def _internal(_error: Exception) -> AsrError:
    return AsrError("an unexpected error occurred; see the server log")


def install_error_handlers(app: FastAPI) -> None:
    install_problem_handlers(
        app,
        internal=_internal,
        invalid=_invalid,
        http=_http,
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    service = TranscriptionService.from_settings(settings or get_settings())

    def lifespan(app: FastAPI) -> AbstractAsyncContextManager[None]:
        return service.running()

    app = FastAPI(
        title="DHG ASR",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # dhg_core.apidocs serves /docs and /redoc from bundled assets
        redoc_url=None,
        summary="Whisper speech recognition with an OpenAI-compatible API.",
    )
    app.state.service = service  # read back by asr.deps.get_service only
    install_api_docs(app)
    install_error_handlers(app)
    document_problems(app, error_statuses)
    app.include_router(health.router)
    app.include_router(transcriptions.router)
    app.include_router(models.router)
    app.include_router(realtime.router)
    app.mount("/metrics", make_asgi_app())
    app.add_middleware(RequestContextMiddleware, max_upload_bytes=service.settings.max_upload_bytes, internal=_internal)
    return app
