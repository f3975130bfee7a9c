"""The ASR service's request context: the shared middleware, observing into the ASR's HTTP metrics."""

from __future__ import annotations

from starlette.types import ASGIApp

from asr import metrics
from core.http import RequestContextMiddleware as SharedRequestContext


def observe(method: str, template: str, status: int, seconds: float) -> None:
    metrics.HTTP_REQUESTS.labels(method, template, str(status)).inc()
    metrics.HTTP_LATENCY.labels(method, template).observe(seconds)


class RequestContextMiddleware(SharedRequestContext):
    def __init__(self, app: ASGIApp) -> None:
        super().__init__(app, observe=observe)
