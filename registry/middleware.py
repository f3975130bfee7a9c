"""One pure ASGI middleware: request ids, body size limits, metrics per route template, and the audit row
of every refused or failed call (successful mutations audit themselves inside their own transaction)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Send

from dhg_core.http import REQUEST_ID_HEADER, Exchange
from dhg_core.http import RequestContextMiddleware as SharedRequestContext
from dhg_core.problems import PROBLEM_MEDIA_TYPE, Problem
from registry import metrics, wakeup
from registry.errors import BodyTooLarge, TooLarge
from registry.resources import resources_of
from registry.store import audit

log = logging.getLogger("registry.http")
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _problem_response(error: TooLarge, request_id: str) -> tuple[Message, Message]:
    body = orjson.dumps(error.problem())
    start: Message = {
        "type": "http.response.start",
        "status": error.status,
        "headers": [
            (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
            (b"content-length", str(len(body)).encode()),
            (REQUEST_ID_HEADER, request_id.encode()),
        ],
    }
    return start, {"type": "http.response.body", "body": body}


def _wake_workers(app: Any, loops: set[wakeup.Loop]) -> None:
    """The request queued segments to embed or webhooks to send: wake those loops now."""
    events: dict[wakeup.Loop, asyncio.Event] = resources_of(app).wakeups
    for loop in loops:
        if loop in events:
            events[loop].set()


def observe(method: str, template: str, status: int, seconds: float) -> None:
    requests, latency = metrics.http_children(method, template, status)
    requests.inc()
    latency.observe(seconds)


class RequestContextMiddleware(SharedRequestContext):
    """The shared request context, plus the Registry's body limits, in-flight gauge, audit of refused and failed
    calls, and the wakeups of the loops a successful request queued work for."""

    def __init__(
        self, app: ASGIApp, *, max_json_bytes: int, max_upload_bytes: int, internal: Callable[[Exception], Problem]
    ) -> None:
        super().__init__(app, observe=observe, internal=internal)
        self.max_json_bytes = max_json_bytes
        self.max_upload_bytes = max_upload_bytes

    async def handle(self, exchange: Exchange, receive: Receive, send: Send) -> None:
        scope = exchange.scope
        headers = dict(scope["headers"])
        queued, queued_token = wakeup.collect()
        content_type = headers.get(b"content-type", b"")
        limit = self.max_upload_bytes if content_type.startswith(b"multipart/") else self.max_json_bytes
        received = {"bytes": 0}

        async def limited_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                received["bytes"] += len(message.get("body", b""))
                if received["bytes"] > limit:
                    raise BodyTooLarge
            return message

        metrics.HTTP_IN_FLIGHT.inc()
        try:
            declared = headers.get(b"content-length")
            if declared is not None and declared.isdigit() and int(declared) > limit:
                raise BodyTooLarge
            await self.app(scope, limited_receive, self.sender(exchange, send))
        except BodyTooLarge:
            exchange.status = 413
            await self.response_starts(exchange)
            for message in _problem_response(TooLarge(f"The request body exceeds {limit} bytes."), exchange.request_id):
                await send(message)
        finally:
            metrics.HTTP_IN_FLIGHT.dec()
            if queued and exchange.status < 400:
                _wake_workers(scope["app"], queued)
            wakeup.reset(queued_token)

    async def response_starts(self, exchange: Exchange) -> None:
        """Audited before the client can see the response, so it can read its audit row."""
        needs_audit = exchange.scope["method"] in MUTATING or exchange.status in (401, 403)
        if needs_audit and not exchange.state.get("audited"):
            exchange.state["audited"] = True
            await self._audit_unaudited(exchange)

    async def _audit_unaudited(self, exchange: Exchange) -> None:
        """Refused (4xx) and failed (5xx) calls; also any mutation that did not audit itself."""
        scope, state, code, request_id = exchange.scope, exchange.state, exchange.status, exchange.request_id
        route, app = scope.get("route"), scope["app"]
        outcome = "refused" if 400 <= code < 500 else "error" if code >= 500 else "ok"
        action = getattr(route, "name", None) or f"{scope['method']} unmatched"
        try:
            async with resources_of(app).sessions() as session, session.begin():
                await audit.record(
                    session,
                    actor=state.get("actor", "anonymous"),
                    action=action,
                    outcome=outcome,
                    status_code=code,
                    method=scope["method"],
                    path=scope["path"],
                    request_id=request_id,
                    detail={"path_params": {k: str(v) for k, v in scope.get("path_params", {}).items()}},
                )
        except Exception:  # an audit failure must not mask the response already sent; it is counted and logged
            metrics.AUDIT_WRITE_FAILURES.inc()
            log.exception("could not write the audit row")
