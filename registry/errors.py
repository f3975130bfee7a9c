"""The Registry's errors, each with a stable RFC 9457 problem `type`; one handler renders them all."""

from __future__ import annotations

import psycopg
from sqlalchemy import exc as sa

from dhg_core.problems import Problem


class BodyTooLarge(Exception):
    """Raised by the request's body stream past the size limit; the middleware answers 413."""


class RegistryError(Problem):
    """Base of the Registry's errors."""


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


class RangeNotSatisfiable(RegistryError):
    status, slug, title = 416, "range-not-satisfiable", "Range not satisfiable"


class InvalidRequest(RegistryError):
    status, slug, title = 422, "validation", "Request validation failed"


class IdempotencyMismatch(RegistryError):
    """A write keyed for retries sent again with other content (registry.idempotency): refused, nothing changed."""

    status, slug, title = 409, "idempotency-mismatch", "The key was used before with other content"


class BadRequest(RegistryError):
    status, slug, title = 400, "bad-request", "Bad request"


class Unavailable(RegistryError):
    status, slug, title = 503, "unavailable", "Service unavailable"


class MissingContent(RegistryError):
    """The metadata names bytes that the storage no longer has: data lost outside the Registry's control."""

    status, slug, title = 500, "content-missing", "Stored content is missing"


DATABASE_RETRY_AFTER_SECONDS = 2


def database_problem(error: BaseException) -> RegistryError | None:
    """What a failure of PostgreSQL means to the client, when it is not the Registry's fault: a value it cannot
    store (a data exception, SQLSTATE class 22) is the request's error; a connection lost or refused, a server
    shutting down, a pool with no connection to give: 503 with Retry-After (nothing was committed)."""
    original = error.orig if isinstance(error, sa.DBAPIError) and error.orig is not None else error
    if isinstance(original, psycopg.DataError):
        reason = str(original).splitlines()[0] if str(original) else type(original).__name__
        return InvalidRequest(f"PostgreSQL cannot store a value of this request: {reason}.")
    if isinstance(original, (psycopg.OperationalError, psycopg.InterfaceError, sa.TimeoutError)):
        return Unavailable(
            "The database is unavailable; nothing was changed. Try again.", retry_after=DATABASE_RETRY_AFTER_SECONDS
        )
    return None
