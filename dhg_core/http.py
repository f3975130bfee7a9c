"""The request context every service's HTTP edge shares, as a pure ASGI middleware: a request id (the client's
`X-Request-ID` when it is safe, else a fresh one) echoed on the response and set for the JSON logs, the status
the response started with, and one observation per request by route template (never by path: ids in paths
would explode the metrics' cardinality). Services extend it with hooks (the Registry: body limits, audit)."""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dhg_core.logs import request_id_var
from dhg_core.problems import Problem, problem_response, report_failure

REQUEST_ID_HEADER = b"x-request-id"
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
Observe = Callable[[str, str, int, float], None]  # method, route template, status code, seconds
log = logging.getLogger("http")


def request_id_of(scope: Scope) -> str:
    """The client's request id when it is a safe token, otherwise a fresh random one."""
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER:
            incoming: str = value.decode("latin-1")
            if _SAFE_REQUEST_ID.match(incoming):
                return incoming
            break
    return os.urandom(16).hex()


def route_template(scope: Scope) -> str:
    return getattr(scope.get("route"), "path", "unmatched")


class Exchange:
    """One request and the response to it, as the middleware sees them."""

    __slots__ = ("request_id", "scope", "started", "state", "status")

    def __init__(self, scope: Scope, request_id: str) -> None:
        self.scope = scope
        self.request_id = request_id
        self.state: dict[str, Any] = scope.setdefault("state", {})
        self.state["request_id"] = request_id
        self.status = 500  # until a response starts: an exception that escapes is a server error
        self.started = False


class RequestContextMiddleware:
    """`internal(error)`: the problem an unexpected error becomes. It is answered here, inside the request's
    context (logged with its request id, the response carrying it, the connection kept), rather than by the
    framework's last-resort handler outside it."""

    def __init__(
        self, app: ASGIApp, *, observe: Observe, internal: Callable[[Exception], Problem] | None = None
    ) -> None:
        self.app = app
        self.observe = observe
        self.internal = internal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        exchange = Exchange(scope, request_id_of(scope))
        token = request_id_var.set(exchange.request_id)
        started = time.perf_counter()
        try:
            await self.handle(exchange, receive, send)
        except Exception as error:
            if exchange.started or self.internal is None:
                raise
            await self.answer_error(exchange, error, receive, send)
        finally:
            self.finished(exchange, time.perf_counter() - started)
            request_id_var.reset(token)

    async def answer_error(self, exchange: Exchange, error: Exception, receive: Receive, send: Send) -> None:
        assert self.internal is not None
        problem = self.internal(error)
        path = exchange.scope["path"]
        report_failure(problem, error, path=path, request_id=exchange.request_id)
        await problem_response(problem, path)(exchange.scope, receive, self.sender(exchange, send))

    async def handle(self, exchange: Exchange, receive: Receive, send: Send) -> None:
        """Run the app for one request (services override this to wrap `receive` or catch errors)."""
        await self.app(exchange.scope, receive, self.sender(exchange, send))

    def sender(self, exchange: Exchange, send: Send) -> Send:
        """`send`, recording the status and adding the request id to the response's headers."""

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                exchange.started = True
                exchange.status = message["status"]
                message["headers"] = [*message.get("headers", []), (REQUEST_ID_HEADER, exchange.request_id.encode())]
                await self.response_starts(exchange)
            await send(message)

        return send_with_id

    async def response_starts(self, exchange: Exchange) -> None:
        """Called once the status is known, before the client can see the response."""

    def finished(self, exchange: Exchange, seconds: float) -> None:
        method = exchange.scope["method"]
        self.observe(method, route_template(exchange.scope), exchange.status, seconds)
        if exchange.status >= 500:
            log.error(
                "request failed", extra={"method": method, "path": exchange.scope["path"], "status": exchange.status}
            )
