"""One pure ASGI middleware: request ids, body size limits, metrics per route template, and the audit row
of every refused or failed call (successful mutations audit themselves inside their own transaction)."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from registry import metrics, wakeup
from registry.errors import PROBLEM_MEDIA_TYPE, TooLarge
from registry.logs import request_id_var
from registry.store import audit

log = logging.getLogger("registry.http")
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
REQUEST_ID_HEADER = b"x-request-id"
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class BodyTooLarge(Exception):
    pass


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
    events: dict[wakeup.Loop, asyncio.Event] = getattr(app.state, "wakeups", {})
    for loop in loops:
        if loop in events:
            events[loop].set()


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, *, max_json_bytes: int, max_upload_bytes: int) -> None:
        self.app = app
        self.max_json_bytes = max_json_bytes
        self.max_upload_bytes = max_upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        incoming = headers.get(REQUEST_ID_HEADER, b"").decode("latin-1")
        request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else os.urandom(16).hex()
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = request_id
        token = request_id_var.set(request_id)
        queued, queued_token = wakeup.collect()
        content_type = headers.get(b"content-type", b"")
        limit = self.max_upload_bytes if content_type.startswith(b"multipart/") else self.max_json_bytes
        status = {"code": 500}
        started = time.perf_counter()
        metrics.HTTP_IN_FLIGHT.inc()

        async def audit_if_needed() -> None:
            needs_audit = scope["method"] in MUTATING or status["code"] in (401, 403)
            if needs_audit and not state.get("audited"):
                state["audited"] = True
                await self._audit_unaudited(scope, state, scope.get("route"), status["code"], request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message["headers"] = [*message.get("headers", []), (REQUEST_ID_HEADER, request_id.encode())]
                await audit_if_needed()  # before the client can see the response, so it can read its audit row
            await send(message)

        received = {"bytes": 0}

        async def limited_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                received["bytes"] += len(message.get("body", b""))
                if received["bytes"] > limit:
                    raise BodyTooLarge
            return message

        try:
            declared = headers.get(b"content-length")
            if declared is not None and declared.isdigit() and int(declared) > limit:
                raise BodyTooLarge
            await self.app(scope, limited_receive, send_with_id)
        except BodyTooLarge:
            status["code"] = 413
            await audit_if_needed()
            for message in _problem_response(TooLarge(f"The request body exceeds {limit} bytes."), request_id):
                await send(message)
        except Exception:
            status["code"] = 500
            await audit_if_needed()
            raise
        finally:
            metrics.HTTP_IN_FLIGHT.dec()
            if queued and status["code"] < 400:
                _wake_workers(scope["app"], queued)
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", "unmatched")
            method = scope["method"]
            requests, latency = metrics.http_children(method, template, status["code"])
            requests.inc()
            latency.observe(elapsed)
            if status["code"] >= 500:
                log.error("request failed", extra={"method": method, "path": scope["path"], "status": status["code"]})
            wakeup.reset(queued_token)
            request_id_var.reset(token)

    async def _audit_unaudited(
        self, scope: Scope, state: dict[str, Any], route: Any, code: int, request_id: str
    ) -> None:
        """Refused (4xx) and failed (5xx) calls; also any mutation that did not audit itself."""
        app = scope["app"]
        outcome = "refused" if 400 <= code < 500 else "error" if code >= 500 else "ok"
        action = getattr(route, "name", None) or f"{scope['method']} unmatched"
        try:
            async with app.state.sessions() as session, session.begin():
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
