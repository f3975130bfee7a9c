"""Webhook signing secrets at rest: sealed under the Registry's key, never stored in clear.

The Registry must be able to read a subscriber's secret back (it signs every delivery with it), so the secret
cannot be hashed as tokens are: it is encrypted with Fernet (AES-128-CBC with an HMAC-SHA256 tag, from the
`cryptography` package), under a key derived by HKDF-SHA256 from the configured key (any high-entropy string: the
chart generates one into its Secret, `dhg up` into its data dir). A stored value reads `fernet:<token>`.

Rotation: the first key seals; every key opens. At start the Registry re-seals what an older key sealed, and seals
any secret still in clear (rows from before sealing existed). Without a key (a deployment that set none) secrets
stay in clear, and the Registry says so in its log at every start.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PREFIX = "fernet:"
_INFO = b"dhg-ai-factory webhook signing secrets v1"


class SealingError(Exception):
    """A stored secret that no configured key opens (a key lost or not configured)."""


def _fernet(key: str) -> Fernet:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(key.encode())
    return Fernet(base64.urlsafe_b64encode(derived))


class SecretBox:
    def __init__(self, keys: Sequence[str]) -> None:
        self.keys = [key for key in keys if key]
        self._first = _fernet(self.keys[0]) if self.keys else None
        self._all = MultiFernet([_fernet(key) for key in self.keys]) if self.keys else None

    @property
    def sealing(self) -> bool:
        return self._first is not None

    def seal(self, secret: str) -> str:
        """What to store for `secret` (in clear only when no key is configured)."""
        if self._first is None:
            return secret
        return PREFIX + self._first.encrypt(secret.encode()).decode()

    def open(self, stored: str) -> str:
        """The secret a stored value holds."""
        if not stored.startswith(PREFIX):
            return stored  # in clear: stored before sealing, or with no key configured
        if self._all is None:
            raise SealingError("a webhook secret is sealed but no key is configured (DHG_REGISTRY_WEBHOOK_SECRET_KEY)")
        try:
            return self._all.decrypt(stored[len(PREFIX) :].encode()).decode()
        except InvalidToken as error:
            raise SealingError("a webhook secret is sealed under a key that is not configured") from error

    def resealed(self, stored: str) -> str | None:
        """The value to store instead of `stored` (sealed under the first key), or None when it already is."""
        if self._first is None:
            return None
        if stored.startswith(PREFIX):
            token = stored[len(PREFIX) :].encode()
            try:
                self._first.decrypt(token)
                return None
            except InvalidToken:
                pass
        return self.seal(self.open(stored))
