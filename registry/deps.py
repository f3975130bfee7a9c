"""FastAPI dependencies: settings, sessions, the caller's token, and in-transaction auditing."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dhg_core.secrets import matches
from registry import auth
from registry.errors import Forbidden, Unauthenticated
from registry.resources import Resources, resources_of
from registry.settings import Settings
from registry.store import audit, tokens


def get_app_settings(request: Request) -> Settings:
    return resources_of(request.app).settings


SettingsDep = Annotated[Settings, Depends(get_app_settings)]


def get_sessions(request: Request) -> async_sessionmaker[AsyncSession]:
    return resources_of(request.app).sessions


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with get_sessions(request)() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


class TokenCache:
    """Verified tokens for a few seconds, so a hot read path costs no token query; revoke clears it."""

    def __init__(self, ttl_seconds: float) -> None:
        self.ttl = ttl_seconds
        self._entries: dict[str, tuple[float, auth.Principal]] = {}

    def get(self, token_hash: str) -> auth.Principal | None:
        entry = self._entries.get(token_hash)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, token_hash: str, principal: auth.Principal) -> None:
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[token_hash] = (time.monotonic() + self.ttl, principal)

    def clear(self) -> None:
        self._entries.clear()


SERVICE_SCOPES = frozenset({"read", "ingest"})  # least privilege: read, and write transcripts, jobs and their media


async def principal_for(resources: Resources, authorization: str | None) -> auth.Principal:
    """The caller behind an `Authorization` header value; 401 when missing, unknown or revoked.

    FastAPI's dependency and the hot routes (registry.hotpath) both authenticate here, with the app's resources
    (settings, token cache, sessions)."""
    token = auth.parse_bearer(authorization)
    if token is None:
        raise Unauthenticated("An Authorization: Bearer <token> header is required.")
    settings = resources.settings
    admin = settings.admin_token.get_secret_value() if settings.admin_token else None
    if admin and matches(token, admin):
        return auth.Principal(actor=auth.BOOTSTRAP_ACTOR, scopes=frozenset(auth.SCOPES))
    for name, secret in settings.service_tokens.items():
        if matches(token, secret.get_secret_value()):
            return auth.Principal(actor=f"service:{name}", scopes=SERVICE_SCOPES)
    cache = resources.token_cache
    token_hash = auth.hash_token(token)
    principal = cache.get(token_hash)
    if principal is None:
        async with resources.sessions() as session:
            row = await tokens.find_active(session, token=token)
        if row is None:
            raise Unauthenticated("The bearer token is unknown or revoked.")
        principal = auth.Principal(actor=f"token:{row.name}", scopes=frozenset(row.scopes), token_id=row.id)
        cache.put(token_hash, principal)
    return principal


async def authenticate(request: Request) -> auth.Principal:
    """The caller behind the request's bearer token; 401 when missing, unknown or revoked."""
    return await principal_for(resources_of(request.app), request.headers.get("authorization"))


def check_scope(principal: auth.Principal, scope: auth.Scope) -> None:
    """403 unless the principal's token holds `scope`."""
    if not principal.allows(scope):
        raise Forbidden(f"This call needs the '{scope}' scope; the token has {sorted(principal.scopes)}.")


BEARER = HTTPBearer(auto_error=False, description="A Registry API token (`dhg-registry token create`).")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)]


def require(scope: auth.Scope) -> Callable[..., Coroutine[Any, Any, auth.Principal]]:
    """A dependency admitting callers whose token holds `scope`; its scope is published in the OpenAPI
    document as `x-required-scope` on every operation that uses it."""

    async def dependency(request: Request, _credentials: Credentials) -> auth.Principal:
        request.state.actor = "anonymous"
        principal = await authenticate(request)
        request.state.actor = principal.actor
        check_scope(principal, scope)
        return principal

    dependency.required_scope = scope  # type: ignore[attr-defined]
    return dependency


def required_scope(dependant: Any) -> str | None:
    """The scope a route's dependency tree requires, if any."""
    for sub in dependant.dependencies:
        scope = getattr(sub.call, "required_scope", None) or required_scope(sub)
        if scope:
            return str(scope)
    return None


ReadAccess = Annotated[auth.Principal, Depends(require("read"))]


async def _read_or_linked(
    request: Request,
    asset_id: uuid.UUID,
    credentials: Credentials,
    expires: Annotated[
        int | None, Query(description="With `signature`: a link's expiry (GET /v1/assets/{asset_id}/link).")
    ] = None,
    signature: Annotated[
        str | None,
        Query(pattern="^[A-Za-z0-9_-]{1,100}$", description="A link's signature, in place of a token."),
    ] = None,
) -> str:
    """The actor reading an asset's bytes: a link's when there is a `signature` (401 when the link is not this asset's,
    has no `expires`, or has expired: then nothing says who reads), else a `read` token's."""
    if signature is None:
        return (await require("read")(request, credentials)).actor  # as a plain `read` route
    request.state.actor = f"link:{asset_id}"
    if expires is None or not resources_of(request.app).links.valid(asset_id, expires, signature):
        raise Unauthenticated("This link is not valid for this asset, or has expired; ask for a new one.")
    return str(request.state.actor)


_read_or_linked.required_scope = "read"  # type: ignore[attr-defined]
ReadOrLinkAccess = Annotated[str, Depends(_read_or_linked)]
WriteAccess = Annotated[auth.Principal, Depends(require("write"))]
IngestAccess = Annotated[auth.Principal, Depends(require("ingest"))]
AdminAccess = Annotated[auth.Principal, Depends(require("admin"))]


class Pagination:
    def __init__(self, limit: int, offset: int) -> None:
        self.limit = limit
        self.offset = offset


def pagination(
    request: Request,
    limit: Annotated[int, Query(ge=1, description="Page size (capped by the server).")] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Pagination:
    cap = resources_of(request.app).settings.page_limit_max
    return Pagination(min(limit, cap), offset)


PageDep = Annotated[Pagination, Depends(pagination)]


async def record_audit(
    request: Request,
    session: AsyncSession,
    *,
    action: str,
    entity_type: str,
    entity_id: object,
    status_code: int,
    detail: dict[str, Any] | None = None,
) -> None:
    """Audit a successful mutation inside its own transaction, so the change and its audit row land together."""
    await audit.record(
        session,
        actor=getattr(request.state, "actor", "anonymous"),
        action=action,
        outcome="ok",
        status_code=status_code,
        method=request.method,
        path=request.url.path,
        request_id=getattr(request.state, "request_id", None),
        entity_type=entity_type,
        entity_id=entity_id,
        detail=detail,
    )
    request.state.audited = True
