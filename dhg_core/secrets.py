"""Comparing secrets (bearer tokens, API keys) without leaking their contents through timing."""

from __future__ import annotations

import hmac


def matches(presented: str, expected: str) -> bool:
    """Constant-time comparison of two secrets."""
    return hmac.compare_digest(presented.encode(), expected.encode())
