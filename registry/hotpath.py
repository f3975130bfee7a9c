"""The two hottest calls, answered without the web framework's per-request machinery.

ASR workers push transcripts and clients read them far more often than anything else is called. Through
FastAPI each of those calls spent as much CPU on routing, dependency solving and its middleware layers as on
the database work behind it (bench/README.md). This layer answers exactly the common shape
of the two calls — `GET /v1/transcripts/{canonical uuid}` (JSON) and `POST /v1/transcripts` with a JSON body
that validates — with the very functions the FastAPI routes use (authentication, the store, problem+json).
Anything else (another format, a body that is not valid JSON or does not validate, a path that is not a
canonical UUID) goes to FastAPI unchanged, body included, so validation errors, the OpenAPI document and
every other route stay FastAPI's. It sits inside RequestContextMiddleware: request ids, size limits, metrics
per route template and the audit of refused calls apply alike.
"""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any

import orjson
from pydantic import ValidationError
from starlette.requests import Request
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from dhg_contract.schemas import TranscriptIn
from dhg_core.problems import problem_response
from registry import auth
from registry.deps import check_scope, principal_for
from registry.errors import RegistryError
from registry.inputs import PARSED_BODY, read_body, replay
from registry.resources import resources_of
from registry.routes import transcripts as transcript_routes

log = logging.getLogger("registry.http")
COLLECTION = "/v1/transcripts"
_ONE = re.compile(r"^/v1/transcripts/([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$")
_JSON_QUERIES = (b"", b"format=json")
_JSON_TYPE = re.compile(rb"^application/json\s*(;|$)", re.IGNORECASE)


def _route(name: str) -> BaseRoute:
    return next(r for r in transcript_routes.router.routes if getattr(r, "name", None) == name)


class HotRoutes:
    """Pure ASGI: answers the two hot calls itself and passes everything else to `app`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.read_route = _route("transcript.get")
        self.create_route = _route("transcript.create")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            method, path = scope["method"], scope["path"]
            if method == "GET" and scope["query_string"] in _JSON_QUERIES and (match := _ONE.match(path)):
                await self._read(scope, receive, send, uuid.UUID(match.group(1)))
                return
            if method == "POST" and path == COLLECTION and not scope["query_string"] and _is_json(scope):
                await self._create(scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _read(self, scope: Scope, receive: Receive, send: Send, transcript_id: uuid.UUID) -> None:
        scope["route"], scope["path_params"] = self.read_route, {"transcript_id": transcript_id}
        try:
            await _authorize(scope, "read")
            response = await transcript_routes.read_json(resources_of(scope["app"]), transcript_id)
        except RegistryError as error:
            response = problem_response(error, Request(scope).url.path)
        await response(scope, receive, send)

    async def _create(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = await read_body(receive)
        data = scope.get("state", {}).get(PARSED_BODY)  # parsed and checked by the input guard
        if data is None:
            try:
                data = orjson.loads(raw)
            except orjson.JSONDecodeError:
                await self.app(scope, replay(raw, receive), send)  # FastAPI's 422 for malformed JSON
                return
        scope["route"], scope["path_params"] = self.create_route, {}
        try:
            principal = await _authorize(scope, "ingest")
            try:
                body = TranscriptIn.model_validate(data)
            except ValidationError:
                await self.app(scope, replay(raw, receive), send)  # FastAPI's 422, naming the fields
                return
            response = await transcript_routes.store(
                resources_of(scope["app"]),
                body,
                principal.actor,
                scope["state"].get("request_id"),
                "POST",
                Request(scope).url.path,
            )
            scope["state"]["audited"] = True
        except RegistryError as error:
            response = problem_response(error, Request(scope).url.path)
        await response(scope, receive, send)


async def _authorize(scope: Scope, required: auth.Scope) -> auth.Principal:
    """Authenticate as FastAPI's `require` dependency does, leaving the actor where the audit reads it."""
    state: dict[str, Any] = scope.setdefault("state", {})
    state["actor"] = "anonymous"
    header = next((value for name, value in scope["headers"] if name == b"authorization"), None)
    principal = await principal_for(resources_of(scope["app"]), None if header is None else header.decode("latin-1"))
    state["actor"] = principal.actor
    check_scope(principal, required)
    return principal


def _is_json(scope: Scope) -> bool:
    content_type = next((value for name, value in scope["headers"] if name == b"content-type"), None)
    return content_type is not None and _JSON_TYPE.match(content_type) is not None
