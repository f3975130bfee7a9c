"""The Registry's errors, each with a stable RFC 9457 problem `type`; one handler renders them all."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

PROBLEM_BASE = "https://dhg.ai/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"


class RegistryError(Exception):
    """Base of every error the API reports as problem+json."""

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


class Unauthenticated(RegistryError):
    status, slug, title = 401, "unauthenticated", "Missing or invalid bearer token"


class Forbidden(RegistryError):
    status, slug, title = 403, "forbidden", "Token lacks the required scope"


class NotFound(RegistryError):
    status, slug, title = 404, "not-found", "Not found"


class Conflict(RegistryError):
    status, slug, title = 409, "conflict", "Conflict"


class InvalidTransition(RegistryError):
    status, slug, title = 409, "invalid-transition", "Invalid job phase transition"


class TooLarge(RegistryError):
    status, slug, title = 413, "too-large", "Request body too large"


class UnsupportedMedia(RegistryError):
    status, slug, title = 415, "unsupported-media-type", "Unsupported media type"


class InvalidRequest(RegistryError):
    status, slug, title = 422, "validation", "Request validation failed"


class BadRequest(RegistryError):
    status, slug, title = 400, "bad-request", "Bad request"


class Unavailable(RegistryError):
    status, slug, title = 503, "unavailable", "Service unavailable"


class MissingContent(RegistryError):
    """The metadata names bytes that the storage no longer has: data lost outside the Registry's control."""

    status, slug, title = 500, "content-missing", "Stored content is missing"


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_MEDIA_TYPE


def problem_response(error: RegistryError, instance: str) -> ProblemResponse:
    """The response of an error: problem+json, with a Bearer challenge on 401."""
    headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else {}
    if error.retry_after is not None:
        headers["Retry-After"] = str(error.retry_after)
    return ProblemResponse(error.problem(instance=instance), status_code=error.status, headers=headers or None)
