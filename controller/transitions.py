"""What a reconcile pass changed, as metrics: a job whose worker started running, an attempt retried, a job that
ended. Each change is counted once, by the replica that wrote it (the status before and after its pass)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from controller import metrics
from dhg_core.vocabulary import TERMINAL_PHASES

OTHER_MODEL = "other"


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def _condition(status: dict[str, Any], kind: str) -> dict[str, Any]:
    return next((c for c in status.get("conditions", []) if c.get("type") == kind), {})


def observe(
    before: dict[str, Any],
    after: dict[str, Any],
    *,
    created: str | None,
    model: str,
    models: Collection[str],
    retried: bool,
    worker_started: datetime | None = None,
) -> None:
    """Count what changed from `before` to `after` (a TranscriptionJob's status); `retried`: the pass scheduled a
    retry; `worker_started`: when the current worker's container started, if it did. `model` is a label only when
    the workers serve it (`models`), so that labels stay bounded."""
    device = str(after.get("device") or "none")
    phase, previous = after.get("phase"), before.get("phase")
    running = _condition(after, "Running")
    ran = None
    if phase == "Running" and previous != "Running":
        ran = _time(running.get("lastTransitionTime"))
    elif phase in TERMINAL_PHASES and previous not in ("Running", phase):
        ran = worker_started  # it ran and ended between two passes: no pass saw it Running
    began = _time(created)
    if began is not None and ran is not None:
        metrics.QUEUE_WAIT_SECONDS.labels(device).observe(max(0.0, (ran - began).total_seconds()))
    if retried:
        metrics.RETRIES.labels(str(running.get("reason") or "Unknown")).inc()
    if phase not in TERMINAL_PHASES or previous == phase:
        return
    metrics.JOBS_FINISHED.labels(phase, str(_condition(after, phase).get("reason") or "Unknown")).inc()
    metrics.ATTEMPTS.observe(int(after.get("attempts") or 0))
    if phase == "Succeeded" and after.get("audioSeconds") is not None:
        label = model if model in models else OTHER_MODEL
        metrics.AUDIO_SECONDS.labels(device, label).inc(float(after["audioSeconds"]))
        if after.get("processingSeconds") is not None:
            metrics.PROCESSING_SECONDS.labels(device, label).observe(float(after["processingSeconds"]))
        if after.get("realTimeFactor") is not None:
            metrics.REAL_TIME_FACTOR.labels(device, label).observe(float(after["realTimeFactor"]))
