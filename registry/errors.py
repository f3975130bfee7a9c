"""The Registry's errors, each with a stable RFC 9457 problem `type`; one handler renders them all."""

from __future__ import annotations

from core.problems import Problem


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


class BadRequest(RegistryError):
    status, slug, title = 400, "bad-request", "Bad request"


class Unavailable(RegistryError):
    status, slug, title = 503, "unavailable", "Service unavailable"


class MissingContent(RegistryError):
    """The metadata names bytes that the storage no longer has: data lost outside the Registry's control."""

    status, slug, title = 500, "content-missing", "Stored content is missing"
