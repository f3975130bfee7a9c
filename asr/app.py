"""create_app for the ASR service: its one TranscriptionService (models, the bounded queue, delivery to the
Registry, async jobs), its routes, errors and metrics."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from prometheus_client import make_asgi_app
from starlette.exceptions import HTTPException as StarletteHTTPException

from asr.errors import AsrError, InvalidRequest
from asr.middleware import RequestContextMiddleware
from asr.routes import health, transcriptions
from asr.service import TranscriptionService
from asr.settings import Settings, get_settings
from core.problems import install_problem_handlers


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
        internal=lambda _error: AsrError("an unexpected error occurred; see the server log"),
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
        summary="Whisper speech recognition with an OpenAI-compatible API.",
    )
    app.state.service = service  # read back by asr.deps.get_service only
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(transcriptions.router)
    app.mount("/metrics", make_asgi_app())
    app.add_middleware(RequestContextMiddleware)
    return app
