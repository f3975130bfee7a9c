"""Bearer tokens and scopes (pure): tokens are random, stored only as their SHA-256."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass

from dhg_contract.schemas import SCOPES as SCOPES  # the scopes are the contract's; what they grant is here
from dhg_contract.schemas import Scope as Scope

# What each scope grants: `ingest` (the factory's own services: the ASR service, workers, the controller) writes
# transcripts, job records and the media they come from (a live session's audio) and nothing else; `write` all
# data; `admin` also tokens, webhooks and the audit log.
GRANTS: dict[str, frozenset[str]] = {
    "read": frozenset({"read"}),
    "ingest": frozenset({"ingest"}),
    "write": frozenset({"read", "ingest", "write"}),
    "admin": frozenset(SCOPES),
}
TOKEN_PREFIX = "dhg_"  # noqa: S105 (a public prefix, not a secret)
BOOTSTRAP_ACTOR = "bootstrap-admin"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the actor name recorded in the audit log and the scopes they hold."""

    actor: str
    scopes: frozenset[str]
    token_id: uuid.UUID | None = None

    def allows(self, required: Scope) -> bool:
        return has_scope(self.scopes, required)


def has_scope(granted: frozenset[str] | set[str] | list[str], required: Scope) -> bool:
    """`admin` implies `write`, which implies `read` and `ingest`."""
    return any(required in GRANTS.get(scope, ()) for scope in granted)


def new_token() -> str:
    """A fresh bearer token (256 bits of randomness)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def parse_bearer(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None."""
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()
