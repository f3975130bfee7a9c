"""The ASR service's request context: the shared middleware, observing into the ASR's HTTP metrics, plus the
upload limit applied to the bytes as they arrive: a declared `Content-Length` over it is answered 413 before the
body is read, and a body that grows past it (chunked, or lying about its length) is cut off with a 413 as soon as
it does, not spooled to disk whole first."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Send

from asr import metrics
from asr.errors import TooLarge
from dhg_core.http import Exchange
from dhg_core.http import RequestContextMiddleware as SharedRequestContext
from dhg_core.problems import Problem, problem_response

MULTIPART_OVERHEAD_BYTES = 64 * 1024  # the form's other fields and part headers around the file


class BodyTooLarge(Exception):
    pass


def observe(method: str, template: str, status: int, seconds: float) -> None:
    metrics.HTTP_REQUESTS.labels(method, template, str(status)).inc()
    metrics.HTTP_LATENCY.labels(method, template).observe(seconds)


class RequestContextMiddleware(SharedRequestContext):
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_upload_bytes: int | None = None,
        internal: Callable[[Exception], Problem] | None = None,
    ) -> None:
        super().__init__(app, observe=observe, internal=internal)
        self.limit = None if max_upload_bytes is None else max_upload_bytes + MULTIPART_OVERHEAD_BYTES

    async def handle(self, exchange: Exchange, receive: Receive, send: Send) -> None:
        limit = self.limit
        if limit is None:
            await super().handle(exchange, receive, send)
            return
        declared = dict(exchange.scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._too_large(exchange, receive, send, limit)
            return
        state = {"received": 0, "over": False, "started": False}

        async def limited_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                state["received"] += len(message.get("body", b""))
                if state["received"] > limit:
                    state["over"] = True
                    raise BodyTooLarge
            return message

        async def tracked_send(message: Message) -> None:
            if state["over"]:  # whatever the framework made of the cut-off body: the answer is ours
                return
            state["started"] = True
            await send(message)

        with contextlib.suppress(BodyTooLarge):
            await super().handle(exchange, limited_receive, tracked_send)
        if state["over"] and not state["started"]:
            await self._too_large(exchange, receive, send, limit)

    async def _too_large(self, exchange: Exchange, receive: Receive, send: Send, limit: int) -> None:
        error = TooLarge(f"the request body is larger than {limit} bytes (the upload limit and its form)")
        response = problem_response(error, exchange.scope["path"])
        await response(exchange.scope, receive, self.sender(exchange, send))
