"""Retry schedule of webhook deliveries (pure)."""

from __future__ import annotations

import random


def retry_delay(
    attempt: int, *, base: float, cap: float, jitter: float = 0.2, rng: random.Random | None = None
) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based): exponential, capped, jittered."""
    rng = rng or random.Random()  # noqa: S311 (jitter, not cryptography)
    delay = min(cap, base * 2 ** max(attempt - 1, 0))
    return float(max(0.0, delay * (1 + rng.uniform(-jitter, jitter))))
