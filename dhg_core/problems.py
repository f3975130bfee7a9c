"""RFC 9457 problem details: the base of every service's errors, their response, and the one set of exception
handlers that renders whatever a FastAPI app raises as `application/problem+json`."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response

PROBLEM_BASE = "https://dhg.ai/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"
log = logging.getLogger("problems")


class Problem(Exception):
    """Base of every error an API reports as problem+json: a stable `type` (from `slug`), status and title."""

    status = 500
    slug = "internal"
    title = "Internal error"

    def __init__(self, detail: str | None = None, *, retry_after: int | None = None, **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.retry_after = retry_after  # seconds, sent as Retry-After: the condition is expected to pass
        self.extra = extra

    @property
    def type(self) -> str:
        return PROBLEM_BASE + self.slug

    def problem(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"type": self.type, "title": self.title, "status": self.status, "detail": self.detail}
        if instance:
            body["instance"] = instance
        if self.retry_after is not None:
            body["retry_after"] = self.retry_after  # an extension member, beside the Retry-After header
        body.update(self.extra)
        return body


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_MEDIA_TYPE


def problem_response(error: Problem, instance: str) -> ProblemResponse:
    """The response of an error: problem+json, with a Bearer challenge on 401 and Retry-After when known."""
    headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else {}
    if error.retry_after is not None:
        headers["Retry-After"] = str(error.retry_after)
    return ProblemResponse(error.problem(instance=instance), status_code=error.status, headers=headers or None)


def install_problem_handlers(
    app: FastAPI,
    *,
    internal: Callable[[Exception], Problem],
    invalid: Callable[[RequestValidationError], Problem],
    http: Callable[[Request, StarletteHTTPException], Problem],
) -> None:
    """Every error a request can end in becomes problem+json: the service's own `Problem`s as they are, a body
    that fails validation as `invalid(...)`, Starlette's HTTP errors (no route, wrong method) as `http(...)`,
    and anything else as `internal(error)`: a service maps the failures it knows (its database away: 503) and
    the rest is a 500, logged with its traceback and the request's id; the client sees no internals."""

    @app.exception_handler(Problem)
    async def known(request: Request, error: Problem) -> Response:
        return problem_response(error, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error: RequestValidationError) -> Response:
        return problem_response(invalid(error), request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        if error.status_code == 405:  # RFC 9110: say which methods the resource has (all its routes', not one's)
            allowed = allowed_methods(request) or (error.headers or {}).get("Allow", "GET, HEAD")  # a mount's own
            wrong = MethodNotAllowed(f"{request.method} is not a method of {request.url.path}; it has {allowed}.")
            response = problem_response(wrong, request.url.path)
            response.headers["Allow"] = allowed
            return response
        return problem_response(http(request, error), request.url.path)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> Response:
        problem = internal(error)
        # the request's context may have ended by the time this runs: its id comes from the scope
        report_failure(
            problem, error, path=request.url.path, request_id=request.scope.get("state", {}).get("request_id")
        )
        return problem_response(problem, request.url.path)


class MethodNotAllowed(Problem):
    status, slug, title = 405, "method-not-allowed", "Method not allowed"


def allowed_methods(request: Request) -> str:
    """The methods the OpenAPI document gives the request's path (HEAD with GET), as an Allow header's value; "" for a
    path it does not describe."""
    methods: set[str] = set()
    for template, operations in request.app.openapi().get("paths", {}).items():
        pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, request.url.path):
            methods |= {method.upper() for method in operations if method.upper() in HTTP_METHODS}
    if "GET" in methods:
        methods.add("HEAD")
    return ", ".join(sorted(methods))


HTTP_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"}


def report_failure(problem: Problem, error: Exception, *, path: str, request_id: str | None) -> None:
    """The log line of an error that was not a Problem: a 500 with its traceback, a known failure (a database away:
    503) as a warning; with the request's id either way."""
    extra: dict[str, Any] = {"path": path, "status": problem.status}
    if request_id:
        extra["request_id"] = request_id
    if problem.status == 500:
        log.exception("unhandled error", exc_info=error, extra=extra)
    else:
        log.warning("request failed: %s", problem.detail, extra={**extra, "error": type(error).__name__})


PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "An RFC 9457 problem: a stable `type` per kind of error; `errors` lists a request's invalid fields.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "retry_after": {"type": "integer", "description": "Seconds; also sent as the Retry-After header."},
        "errors": {"type": "array", "items": {"type": "object"}},
    },
    "additionalProperties": True,
}
REASONS = {
    400: "The request is invalid",
    401: "No credentials, or unknown ones",
    403: "The credentials lack the scope this call needs",
    404: "Not found",
    409: "Conflicts with the current state",
    413: "Too large",
    415: "Unsupported media type",
    416: "Range not satisfiable",
    422: "The request does not match the schema",
    429: "Too many requests are waiting; retry after Retry-After seconds",
    500: "An unexpected error (see the server log with the request id)",
    503: "Unavailable for now; retry after Retry-After seconds",
}
Statuses = Callable[[str, str, dict[str, Any]], Iterable[int]]  # (method, path, operation) → error statuses


def amend_openapi(app: FastAPI, amend: Callable[[dict[str, Any]], None]) -> None:
    """Have `amend` change the app's OpenAPI document once, when it is first made (after the amendments before it)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        document = generate()
        amend(document)
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def document_problems(app: FastAPI, statuses: Statuses) -> None:
    """Declare in the OpenAPI document the error answers each operation really gives, as problem+json (FastAPI
    declares only its own 422 shape, which these services never send): `statuses` says which ones."""

    def declare(document: dict[str, Any]) -> None:
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        schemas["Problem"] = PROBLEM_SCHEMA
        for path, operations in document.get("paths", {}).items():
            for method, operation in operations.items():
                responses = operation.setdefault("responses", {})
                responses.pop("422", None)
                for status in sorted(set(statuses(method.upper(), path, operation))):
                    responses[str(status)] = {
                        "description": REASONS[status],
                        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
                    }
        for unused in ("HTTPValidationError", "ValidationError"):
            if f'"#/components/schemas/{unused}"' not in json.dumps(document):
                schemas.pop(unused, None)

    amend_openapi(app, declare)


def common_statuses(method: str, path: str, operation: dict[str, Any]) -> set[int]:
    """What any operation of these services can answer: 500; 401 when it takes credentials; 404 and 422 for its
    path and query parameters; 413 and 422 for a body."""
    found = {500}
    if operation.get("security"):
        found.add(401)
    if "{" in path:
        found |= {404, 422}
    if operation.get("parameters"):
        found.add(422)
    if "requestBody" in operation:
        found |= {413, 422}
    return found
