"""Short-lived links to one asset's bytes, for what cannot send a bearer token (a browser's <audio> element, which
then streams with Range requests as it plays and seeks).

A link is the content path with `expires` (Unix seconds) and `signature`: HMAC-SHA256 over the asset id, the expiry and
the scope it grants (read), under a key derived by HKDF-SHA256 from the Registry's key (`webhook_secret_key`, with an
info string of its own, so neither use can stand for the other). It carries no token, names one asset, grants reading
it only, and stops working at its expiry; whoever can read the asset can make one. Without a configured key each
process signs with a random key of its own (links then work only on the process that made them)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
import uuid
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_INFO = b"dhg-ai-factory media links v1"
SCOPE = "read"
MIN_SECONDS = 15 * 60  # a link lives this long past the audio's own length: enough to play it through, and seek
MAX_SECONDS = 24 * 3600


def link_key(configured: str | None) -> bytes:
    """The signing key: derived from the Registry's key, or random for this process when none is configured."""
    if not configured:
        return secrets.token_bytes(32)
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(configured.encode())


def lifetime(duration_seconds: float | None) -> int:
    """How long a link to audio of that length lives: its length plus MIN_SECONDS, at most MAX_SECONDS."""
    return int(min(MAX_SECONDS, MIN_SECONDS + max(0.0, duration_seconds or 0.0)))


@dataclass(frozen=True)
class Signer:
    key: bytes

    def signature(self, asset_id: uuid.UUID, expires: int) -> str:
        message = f"{SCOPE}:{asset_id}:{expires}".encode()
        digest = hmac.new(self.key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def sign(self, asset_id: uuid.UUID, seconds: int, now: float | None = None) -> tuple[int, str]:
        """(expires, signature) of a link to `asset_id` valid for `seconds` from `now`."""
        expires = int(now if now is not None else time.time()) + seconds
        return expires, self.signature(asset_id, expires)

    def valid(self, asset_id: uuid.UUID, expires: int, signature: str, now: float | None = None) -> bool:
        """The link was made here for this asset and has not expired (compared in constant time)."""
        if expires < (now if now is not None else time.time()):
            return False
        return hmac.compare_digest(self.signature(asset_id, expires), signature)
