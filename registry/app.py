"""create_app: wires settings, the database, routes, error handling, metrics and background workers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.telemetry import TelemetryConfig
from starlette.exceptions import HTTPException as StarletteHTTPException

from dhg_core.apidocs import install_api_docs
from dhg_core.problems import amend_openapi, common_statuses, document_problems, install_problem_handlers
from registry import background, heap, links, metrics, pg
from registry.batching import PushBatcher
from registry.db import make_engine, make_sessionmaker
from registry.deps import TokenCache, required_scope
from registry.errors import BadRequest, InvalidRequest, NotFound, RegistryError, database_problem
from registry.hotpath import HotRoutes
from registry.inputs import STORABLE_JSON, InputGuard, declare_storable_text
from registry.middleware import RequestContextMiddleware
from registry.resources import Resources, resources_of
from registry.routes import assets, audit, health, jobs, search, tokens, transcripts, webhooks
from registry.settings import Settings, get_settings
from registry.store import webhooks as store_webhooks
from registry.viewer import install_viewer
from registry.webhooks import secret_box

log = logging.getLogger("registry")


def _invalid(error: RequestValidationError) -> RegistryError:
    """A request that does not validate: 422 naming each field; but one whose path names no resource (an id that is
    no UUID) is a 404, as for any other id that names nothing."""
    errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")} for e in error.errors()]
    if errors and all(e["loc"][:1] == ["path"] for e in errors):
        names = ", ".join(str(e["loc"][-1]) for e in errors)
        return NotFound(f"Nothing is stored under that {names}: it is not a UUID.")
    return InvalidRequest("The request does not match the API schema.", errors=errors)


def _http(request: Request, error: StarletteHTTPException) -> RegistryError:
    if error.status_code == 404:
        return NotFound(f"No route matches {request.url.path}.")
    generic = BadRequest(str(error.detail))
    generic.status = error.status_code
    generic.title = "HTTP error"
    return generic


def _internal(error: Exception) -> RegistryError:
    return database_problem(error) or RegistryError("An unexpected error occurred; see the server log.")


def error_statuses(method: str, path: str, operation: dict[str, Any]) -> set[int]:
    """The Registry's error answers per operation (for its OpenAPI document): the input gate's 422 anywhere; the
    database's 503 everywhere but /healthz; scopes' 403; state conflicts (409) on changes; uploads' 400/413/415;
    ranges' 416."""
    found = common_statuses(method, path, operation) | {422}
    if path != "/healthz":
        found.add(503)
    if operation.get("security"):
        found.add(403)
    if method in ("POST", "PATCH", "PUT", "DELETE"):
        found |= {409}
    if "requestBody" in operation:
        found |= {400, 413, 415}
    if path == "/v1/assets/{asset_id}/content":
        found |= {416}
    return found


def declare_inputs(document: dict[str, Any]) -> None:
    """The OpenAPI document says what the input gate refuses (registry.inputs.declare_storable_text)."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    declare_storable_text(schemas)
    schemas["StorableJson"] = STORABLE_JSON
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            declare_storable_text(operation.get("parameters", []))
            declare_storable_text(operation.get("requestBody", {}))


def install_error_handlers(app: FastAPI) -> None:
    """Problem+json for every error; PostgreSQL's failures (`_internal`: 503 when it is away, 422 for a value it
    cannot store) are answered by the request context middleware, the hot routes' included."""
    install_problem_handlers(app, internal=_internal, invalid=_invalid, http=_http)


def publish_required_scopes(router: APIRouter) -> None:
    for route in router.routes:
        if isinstance(route, APIRoute):
            scope = required_scope(route.dependant)
            if scope:
                route.openapi_extra = {**(route.openapi_extra or {}), "x-required-scope": scope}


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    resources = resources_of(app)
    settings = resources.settings
    engine = make_engine(settings)
    resources.engine = engine
    resources.sessions = make_sessionmaker(engine)
    resources.pg = await pg.open_pool(settings)
    resources.pushes = (
        PushBatcher(resources.pg, writers=settings.push_writers, max_batch=settings.push_batch_max)
        if settings.push_writers > 0
        else None
    )
    resources.token_cache = TokenCache(settings.token_cache_seconds)
    await _seal_webhook_secrets(resources)
    tasks = background.start(resources)
    heap.settle()
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await background.stop(resources)
        if resources.pushes is not None:
            await resources.pushes.close()
        await resources.pg.close()
        await engine.dispose()
        metrics.process_exited()


async def _seal_webhook_secrets(resources: Resources) -> None:
    """Seal under the current key what is in clear or under an older key (registry/sealing.py); say so when no key
    is configured. A database away at start only postpones it to the next start."""
    box = secret_box(resources.settings)
    if not box.sealing:
        log.warning("webhook signing secrets are stored in clear: set DHG_REGISTRY_WEBHOOK_SECRET_KEY to seal them")
        return
    try:
        async with resources.sessions() as session, session.begin():
            changed = await store_webhooks.reseal(session, box)
    except Exception as error:
        log.warning("could not seal webhook secrets at start: %s", type(error).__name__)
        return
    if changed:
        log.info("sealed webhook signing secrets under the current key", extra={"count": changed})


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        title="DHG Registry",
        version="0.1.0",
        summary="System of record: media assets, transcripts, jobs, search and the audit log.",
        lifespan=lifespan,
        docs_url=None,  # dhg_core.apidocs serves /docs and /redoc from bundled assets
        redoc_url=None,
        # FastAPI's native OpenTelemetry looks up the global providers on every request even when none is
        # configured; it runs only when asked for (Prometheus metrics and JSON logs are always on).
        telemetry=TelemetryConfig(
            tracing=settings.opentelemetry, metrics=settings.opentelemetry, logs=settings.opentelemetry
        ),
    )
    secret = settings.webhook_secret_key.get_secret_value() if settings.webhook_secret_key else None
    app.state.resources = Resources(settings, links.Signer(links.link_key(secret)))
    install_api_docs(app)
    install_viewer(app, settings.asr_url)
    install_error_handlers(app)
    document_problems(app, error_statuses)
    amend_openapi(app, declare_inputs)
    for module in (health, assets, transcripts, jobs, search, audit, webhooks, tokens):
        publish_required_scopes(module.router)
        app.include_router(module.router)
    app.mount("/metrics", metrics.asgi_app())
    if settings.hot_routes:
        app.add_middleware(HotRoutes)  # inside the input guard and RequestContextMiddleware (added after: outside)
    app.add_middleware(InputGuard)
    app.add_middleware(
        RequestContextMiddleware,
        max_json_bytes=settings.max_json_bytes,
        max_upload_bytes=settings.max_upload_bytes,
        internal=_internal,
    )
    return app


def create_worker_app() -> FastAPI:
    """The app of one of several server processes (`serve --workers N`): each sets up its own logging."""
    from dhg_core.logs import configure_logging

    settings = get_settings()
    configure_logging(settings.service_name, settings.log_level)
    return create_app(settings)
