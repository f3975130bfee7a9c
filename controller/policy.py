"""The operator's decisions, as pure functions: where to place an attempt, when to fall back from GPU to CPU,
and whether a failed attempt is retried (the worker's exit codes and summary: `dhg_core.worker`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from dhg_core import whisper
from dhg_core.vocabulary import Device, DeviceChoice
from dhg_core.worker import ExitCode

RETRY_BASE_SECONDS = 10.0
RETRY_MAX_SECONDS = 300.0
# The cluster autoscaler's default --max-node-provision-time: a node it has not brought up by then is not coming
# (it backs that node group off), so its word that a scale-up is under way holds for this long.
SCALE_UP_SECONDS = 900.0


@dataclass(frozen=True)
class Placing:
    placement: Device
    reason: str
    message: str


def first_placement(device: DeviceChoice, gpu_nodes: int, *, fell_back: bool = False) -> Placing:
    """Where the next attempt goes. `gpu_nodes`: nodes offering allocatable nvidia.com/gpu right now."""
    if device == "cpu":
        return Placing("cpu", "CPURequested", "device: cpu")
    if device == "gpu":
        if gpu_nodes:
            return Placing("gpu", "GPURequested", "device: gpu")
        return Placing("gpu", "NoGPUNodes", "device: gpu and no node offers nvidia.com/gpu: waiting, never CPU")
    if fell_back:
        return Placing("cpu", "FellBack", "fell back to CPU earlier; attempts stay on CPU")
    if gpu_nodes == 0:
        return Placing("cpu", "NoGPUNodes", "no node offers allocatable nvidia.com/gpu: running on CPU")
    return Placing("gpu", "GPUAvailable", f"{gpu_nodes} node(s) offer nvidia.com/gpu")


@dataclass(frozen=True)
class FallbackCheck:
    fall_back: bool
    wait_seconds: float | None  # when to look again (None: nothing to wait for)
    reason: str


def check_fallback(
    device: DeviceChoice,
    placement: Device,
    unschedulable_since: datetime | None,
    now: datetime,
    after_seconds: int,
    *,
    scale_up_at: datetime | None = None,
) -> FallbackCheck:
    """While a GPU pod waits: fall back once it has been Unschedulable for `after_seconds` (device auto only),
    unless the cluster autoscaler said at `scale_up_at` that it is adding a node for it (then the wait is worth
    it, for up to SCALE_UP_SECONDS from then)."""
    if device != "auto" or placement != "gpu" or unschedulable_since is None:
        return FallbackCheck(False, None, "NotWaiting")
    if scale_up_at is not None and (left := SCALE_UP_SECONDS - (now - scale_up_at).total_seconds()) > 0:
        return FallbackCheck(False, left, "ScaleUpUnderWay")
    waited = (now - unschedulable_since).total_seconds()
    if waited >= after_seconds:
        return FallbackCheck(True, None, "GPUUnschedulable")
    return FallbackCheck(False, after_seconds - waited, "WaitingForGPU")


@dataclass(frozen=True)
class Outcome:
    verdict: Literal["retry", "fail"]
    reason: str
    message: str
    delay_seconds: float = 0.0


def after_failure(exit_code: int | None, attempts: int, max_retries: int, message: str, reason: str = "") -> Outcome:
    """A failed attempt: bad input and deadlines are final; transient failures (exit 75, an OOM kill, a pod
    lost with its node) are retried with exponential backoff while `attempts` <= `max_retries`."""
    if exit_code == ExitCode.BAD_INPUT:
        return Outcome("fail", "BadInput", message or "the worker refused the input")
    if reason == "DeadlineExceeded":
        return Outcome("fail", "DeadlineExceeded", message or "the attempt ran past activeDeadlineSeconds")
    kind = "Transient" if exit_code == ExitCode.TRANSIENT else ("OOMKilled" if exit_code == 137 else "WorkerFailed")
    if attempts > max_retries:
        return Outcome("fail", "RetriesExhausted", f"{kind} after {attempts} attempt(s): {message}")
    delay = min(RETRY_BASE_SECONDS * 2 ** (attempts - 1), RETRY_MAX_SECONDS)
    return Outcome("retry", kind, message, delay)


@dataclass(frozen=True)
class Refusal:
    reason: str
    message: str


def refuse(
    model: str | None,
    language: str,
    task: str,
    *,
    models: dict[str, str],
    aliases: dict[str, str],
    default_model: str,
) -> Refusal | None:
    """What no worker could do, refused before one is launched: a model the workers do not serve, or another
    language or a translation asked of an English-only model (naming the models that can)."""
    name = whisper.resolve(model, models, aliases, default_model)
    if name is None:
        served = ", ".join(whisper.served_names(models, aliases))
        return Refusal("UnknownModel", f"model {model or default_model!r} is not served here; choose one of: {served}")
    if not whisper.english_only(name, models):
        return None
    multilingual = [other for other in sorted(models) if whisper.known_multilingual(other, models)]
    can = f"; use {' or '.join(multilingual)} (multilingual)" if multilingual else ""
    if task == "translate":
        return Refusal("EnglishOnlyModel", f"model {name!r} is English-only and cannot translate{can}")
    if language not in ("auto", "en"):
        return Refusal("EnglishOnlyModel", f"model {name!r} is English-only: language auto or en{can}")
    return None
