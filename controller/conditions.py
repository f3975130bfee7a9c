"""Conditions as a pure reducer, and the phase derived from them.

The operator never patches one condition: it computes the whole list and writes it (a JSON merge-patch replaces
lists whole). `lastTransitionTime` moves only when a condition's status flips; reason and message may change
without a transition. The phase is for display (`kubectl get tj`): the conditions are the truth.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from dhg_core.vocabulary import Phase

Status = Literal["True", "False", "Unknown"]
ORDER = ("Scheduled", "Running", "GPUFallback", "Succeeded", "Failed", "Cancelled")


def now_rfc3339(moment: datetime | None = None) -> str:
    """Kubernetes' time format: RFC 3339 in UTC, whole seconds, with a Z."""
    return (moment or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Change:
    """One condition as the operator sees it now."""

    type: str
    status: Status
    reason: str
    message: str = ""


def reduce(
    conditions: list[dict[str, Any]], changes: list[Change], *, now: str, generation: int | None
) -> list[dict[str, Any]]:
    """The new list: `changes` applied to `conditions`, in a stable order."""
    current = {c["type"]: dict(c) for c in conditions}
    for change in changes:
        previous = current.get(change.type)
        flipped = previous is None or previous.get("status") != change.status
        condition = {
            "type": change.type,
            "status": change.status,
            "reason": change.reason,
            "message": change.message,
            "lastTransitionTime": now if flipped else previous["lastTransitionTime"],  # type: ignore[index]
        }
        if generation is not None:
            condition["observedGeneration"] = generation
        current[change.type] = condition
    rank = {name: index for index, name in enumerate(ORDER)}
    return sorted(current.values(), key=lambda c: (rank.get(c["type"], len(ORDER)), c["type"]))


def is_true(conditions: list[dict[str, Any]], kind: str) -> bool:
    return any(c["type"] == kind and c["status"] == "True" for c in conditions)


def phase(conditions: list[dict[str, Any]]) -> Phase:
    """From the conditions alone: Cancelled, Failed or Succeeded when one is True; Running when the worker
    runs; Scheduling while its pod is placed and started; Pending before that, and while no node can take
    the pod (Scheduled=False: the reason and message say why)."""
    terminal: Phase
    for terminal in ("Cancelled", "Failed", "Succeeded"):
        if is_true(conditions, terminal):
            return terminal
    if is_true(conditions, "Running"):
        return "Running"
    scheduled = next((c["status"] for c in conditions if c["type"] == "Scheduled"), None)
    return "Scheduling" if scheduled in ("True", "Unknown") else "Pending"
