"""The operator's whole decision as one pure function: what it observes in, what to do out.

`reconcile(Observed) -> Plan` is level-triggered: it looks at the TranscriptionJob, the worker Jobs it owns (with
their pods) and the GPU capacity of the cluster, and says which Jobs to create or delete, the whole new status
(conditions computed by `controller.conditions`), the Events to post and when to look again. The Kopf layer
only gathers the observation and carries the plan out, so every path (fallback, retries, success, bad input)
is tested here without a cluster.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, NamedTuple

from controller import conditions, manifests, policy
from controller.conditions import Change, now_rfc3339
from controller.manifests import LABEL_ATTEMPT, LABEL_PLACEMENT, WorkerConfig
from controller.model import Condition, TranscriptionJob, TranscriptionJobStatus
from dhg_core.vocabulary import TERMINAL_PHASES, Device
from dhg_core.worker import WorkerSummary

POLL_SECONDS = 30.0  # a safety net; Job and pod events wake the operator sooner
# A failed Job's pod may reach the watch cache after the Job does: its exit code (bad input or transient?) decides
# between the end and a retry, so the decision waits this long for it, re-checking every POD_EXIT_POLL_SECONDS.
POD_EXIT_GRACE_SECONDS = 30.0
POD_EXIT_POLL_SECONDS = 1.0


def parse_time(value: str | None) -> datetime | None:
    """An API server's timestamp (RFC 3339, `Z` or an offset, with or without fractions), or None."""
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


@dataclass(frozen=True)
class PodView:
    name: str
    phase: str
    node: str | None = None
    unschedulable_since: datetime | None = None
    unschedulable_message: str = ""
    running: bool = False
    exit_code: int | None = None
    termination_reason: str | None = None
    termination_message: str | None = None
    waiting_reason: str | None = None  # e.g. CreateContainerConfigError, ImagePullBackOff
    waiting_message: str = ""
    started_at: datetime | None = None  # when the worker's container started (running or ended since)

    @staticmethod
    def essentials(pod: Mapping[str, Any]) -> dict[str, Any]:
        """The parts of a pod `from_pod` reads (what the operator's index keeps: a whole pod, its spec and env
        included, is tens of kB as Python objects, times every worker pod of the cluster)."""
        status: dict[str, Any] = pod.get("status") or {}
        containers: list[dict[str, Any]] = status.get("containerStatuses") or []
        return {
            "metadata": {key: pod["metadata"].get(key) for key in ("name", "creationTimestamp")},
            "spec": {"nodeName": (pod.get("spec") or {}).get("nodeName")},
            "status": {
                "phase": status.get("phase", "Pending"),
                "conditions": [c for c in status.get("conditions") or [] if c.get("type") == "PodScheduled"],
                "containerStatuses": [{"state": containers[0].get("state")}] if containers else [],
            },
        }

    @classmethod
    def from_pod(cls, pod: dict[str, Any]) -> PodView:
        status: dict[str, Any] = pod.get("status") or {}
        found = [c for c in status.get("conditions") or [] if c.get("type") == "PodScheduled"]
        scheduled: dict[str, Any] = found[0] if found else {}
        unschedulable = scheduled.get("status") == "False" and scheduled.get("reason") == "Unschedulable"
        containers: list[dict[str, Any]] = status.get("containerStatuses") or [{}]
        state: dict[str, Any] = containers[0].get("state") or {}
        terminated: dict[str, Any] = state.get("terminated") or {}
        waiting: dict[str, Any] = state.get("waiting") or {}
        return cls(
            name=pod["metadata"]["name"],
            phase=status.get("phase", "Pending"),
            node=(pod.get("spec") or {}).get("nodeName"),
            unschedulable_since=parse_time(scheduled.get("lastTransitionTime")) if unschedulable else None,
            unschedulable_message=scheduled.get("message", "") if unschedulable else "",
            running="running" in state,
            started_at=parse_time((state.get("running") or terminated).get("startedAt")),
            exit_code=terminated.get("exitCode"),
            termination_reason=terminated.get("reason"),
            termination_message=terminated.get("message"),
            waiting_reason=waiting.get("reason"),
            waiting_message=waiting.get("message", ""),
        )


@dataclass(frozen=True)
class JobView:
    name: str
    placement: Device
    attempt: int
    failed_reason: str | None = None  # the Job's Failed condition reason (DeadlineExceeded, ...)
    failed_message: str = ""
    failed_at: datetime | None = None  # when the Failed condition was set
    deleting: bool = False
    pod: PodView | None = None

    @staticmethod
    def essentials(job: Mapping[str, Any]) -> dict[str, Any]:
        """The parts of a batch/v1 Job `from_job` reads (what the operator's index keeps: a whole Job carries its
        pod template)."""
        meta, status = job["metadata"], job.get("status") or {}
        labels = meta.get("labels") or {}
        return {
            "metadata": {
                "name": meta["name"],
                "labels": {key: labels[key] for key in (LABEL_PLACEMENT, LABEL_ATTEMPT) if key in labels},
                "deletionTimestamp": meta.get("deletionTimestamp"),
            },
            "status": {"conditions": [c for c in status.get("conditions") or [] if c.get("type") == "Failed"]},
        }

    @classmethod
    def from_job(cls, job: dict[str, Any], pods: list[dict[str, Any]]) -> JobView:
        meta, status = job["metadata"], job.get("status") or {}
        failed = next(
            (c for c in status.get("conditions") or [] if c.get("type") == "Failed" and c.get("status") == "True"),
            None,
        )
        newest = max(pods, key=lambda p: p["metadata"].get("creationTimestamp", ""), default=None)
        placement: Device = "gpu" if meta["labels"].get(LABEL_PLACEMENT) == "gpu" else "cpu"
        return cls(
            name=meta["name"],
            placement=placement,
            attempt=int(meta["labels"].get(LABEL_ATTEMPT, "1")),
            failed_reason=failed.get("reason") if failed else None,
            failed_message=failed.get("message", "") if failed else "",
            failed_at=parse_time(failed.get("lastTransitionTime")) if failed else None,
            deleting=bool(meta.get("deletionTimestamp")),
            pod=PodView.from_pod(newest) if newest else None,
        )


@dataclass(frozen=True)
class Observed:
    transcription_job: TranscriptionJob
    worker_jobs: list[JobView]  # the batch/v1 Jobs it owns, one per attempt
    gpu_nodes: int
    now: datetime
    # pod name → when the cluster autoscaler last said it is adding a node for that pod (a TriggeredScaleUp Event)
    scale_ups: dict[str, datetime] = field(default_factory=dict)


class Event(NamedTuple):
    """A Kubernetes Event to post about the TranscriptionJob."""

    kind: Literal["Normal", "Warning"]
    reason: str
    message: str


@dataclass
class Plan:
    create: list[dict[str, Any]] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)  # Job names, deleted with propagationPolicy=Background
    state: TranscriptionJobStatus = field(default_factory=TranscriptionJobStatus)  # the whole new status
    events: list[Event] = field(default_factory=list)
    requeue_after: float | None = None

    @property
    def status(self) -> dict[str, Any]:
        """The new status as the API server stores it (the CRD's camelCase names, unset fields left out)."""
        return self.state.model_dump(by_alias=True, exclude_none=True)


class _Builder:
    """The status being computed, with the plan it comes with."""

    def __init__(self, observed: Observed) -> None:
        self.observed = observed
        self.previous = observed.transcription_job.status or TranscriptionJobStatus()
        self.status = self.previous.model_copy(update={"conditions": []}, deep=True)
        self.changes: list[Change] = []
        self.plan = Plan()
        self.now = now_rfc3339(observed.now)

    def condition(self, kind: str, status: conditions.Status, reason: str, message: str = "") -> None:
        self.changes.append(Change(kind, status, reason, message))

    def event(self, kind: Literal["Normal", "Warning"], reason: str, message: str) -> None:
        self.plan.events.append(Event(kind, reason, message))

    def launch(self, placement: Device, attempt: int, config: WorkerConfig, message: str) -> None:
        manifest = manifests.build_job(self.observed.transcription_job, placement, attempt, config)
        self.plan.create.append(manifest)
        status = self.status
        status.attempts, status.device, status.job_name = attempt, placement, manifest["metadata"]["name"]
        status.start_time = status.start_time or self.now
        status.pod_name = status.node_name = status.next_attempt_time = None
        self.condition(
            "Scheduled", "Unknown", "JobCreated", f"{placement.upper()} worker {manifest['metadata']['name']}"
        )
        self.condition("Running", "False", "Waiting", "")
        self.event("Normal", "JobCreated", f"attempt {attempt} on {placement}: {message}")

    def finish(self) -> Plan:
        generation = self.observed.transcription_job.metadata.generation
        previous = [c.model_dump(by_alias=True, exclude_none=True) for c in self.previous.conditions]
        listed = conditions.reduce(previous, self.changes, now=self.now, generation=generation)
        self.status.conditions = [Condition.model_validate(c) for c in listed]
        self.status.phase = conditions.phase(listed)
        if generation is not None:
            self.status.observed_generation = generation
        self.plan.state = self.status
        return self.plan


def reconcile(observed: Observed, config: WorkerConfig) -> Plan:
    """The next step for one TranscriptionJob."""
    build = _Builder(observed)
    spec = observed.transcription_job.spec
    if build.previous.phase in TERMINAL_PHASES:
        return build.finish()
    attempts = build.previous.attempts or 0
    fell_back = any(c.type == "GPUFallback" and c.status == "True" for c in build.previous.conditions)
    current = next((j for j in observed.worker_jobs if j.attempt == attempts and not j.deleting), None)
    next_time = parse_time(build.previous.next_attempt_time)
    if next_time is not None:  # the current attempt failed and was recorded: wait, then launch the next one
        if observed.now < next_time:
            build.plan.requeue_after = (next_time - observed.now).total_seconds()
            return build.finish()
        placing = policy.first_placement(spec.device, observed.gpu_nodes, fell_back=fell_back)
        message = f"retry after a failure; {placing.message}"
        build.launch(placing.placement, attempts + 1, config, message)
        build.plan.requeue_after = POLL_SECONDS
        return build.finish()
    if attempts and current is None and build.previous.device:
        # Launched, but its Job is not seen (not in the watch cache yet, or deleted by hand): create it again under
        # the same name and placement; if it exists, the API answers 409 and nothing is started twice.
        placement: Device = build.previous.device
        build.launch(placement, attempts, config, "its Job is missing")
        build.plan.events.pop()  # not news: usually the watch has not caught up yet
        build.plan.requeue_after = POLL_SECONDS
        return build.finish()
    if attempts == 0 and (refusal := _refusal(observed, config)) is not None:
        build.status.completion_time, build.status.message = build.now, refusal.message
        build.condition("Failed", "True", refusal.reason, refusal.message)
        build.condition("Succeeded", "False", refusal.reason, "")
        build.event("Warning", "Failed", refusal.message)
        return build.finish()
    if attempts == 0 or current is None:  # nothing launched yet
        placing = policy.first_placement(spec.device, observed.gpu_nodes, fell_back=fell_back)
        if spec.device == "auto" and placing.placement == "cpu" and not fell_back:
            build.condition("GPUFallback", "True", placing.reason, placing.message)
            build.event("Warning", "GPUFallback", placing.message)
        build.launch(placing.placement, max(attempts, 1), config, placing.message)
        build.plan.requeue_after = POLL_SECONDS
        return build.finish()
    assert current is not None
    _follow(build, current, config)
    return build.finish()


def _refusal(observed: Observed, config: WorkerConfig) -> policy.Refusal | None:
    spec = observed.transcription_job.spec
    return policy.refuse(
        spec.model,
        spec.language,
        spec.task,
        models=config.models,
        aliases=config.model_aliases,
        default_model=config.default_model,
    )


def _follow(build: _Builder, current: JobView, config: WorkerConfig) -> None:
    """The current attempt's Job and pod → status; fallback, retry or the end."""
    observed, spec = build.observed, build.observed.transcription_job.spec
    pod = current.pod
    build.plan.requeue_after = POLL_SECONDS
    if pod is not None:
        build.status.pod_name = pod.name
        if pod.node:
            build.status.node_name = pod.node
    if current.failed_reason is None and (pod is None or pod.phase in ("Pending", "Unknown")):
        if pod is not None and pod.unschedulable_since is not None:
            check = policy.check_fallback(
                spec.device,
                current.placement,
                pod.unschedulable_since,
                observed.now,
                spec.fallback.after_seconds,
                scale_up_at=observed.scale_ups.get(pod.name),
            )
            reason = "Unschedulable" if current.placement == "cpu" or spec.device != "gpu" else "WaitingForGPU"
            waiting = "waiting for a node"
            if check.reason == "ScaleUpUnderWay":
                reason, waiting = check.reason, "waiting for the node the cluster autoscaler is adding"
            build.condition("Scheduled", "False", reason, pod.unschedulable_message)
            build.status.message = f"{waiting}: {pod.unschedulable_message}"
            if check.fall_back:
                message = (
                    f"the GPU pod stayed unschedulable for {spec.fallback.after_seconds} s "
                    f"({pod.unschedulable_message}): falling back to CPU"
                )
                build.plan.delete.append(current.name)
                build.condition("GPUFallback", "True", "GPUUnschedulable", message)
                build.event("Warning", "GPUFallback", message)
                build.launch("cpu", current.attempt + 1, config, message)
            elif check.wait_seconds is not None:
                build.plan.requeue_after = min(POLL_SECONDS, check.wait_seconds)
        elif pod is not None and pod.node:
            build.condition("Scheduled", "True", "Scheduled", f"pod {pod.name} on node {pod.node}")
            if pod.waiting_reason and pod.waiting_reason not in ("ContainerCreating", "PodInitializing"):
                build.status.message = f"the worker cannot start: {pod.waiting_reason}: {pod.waiting_message}"
        return
    if pod is not None and pod.node:
        build.condition("Scheduled", "True", "Scheduled", f"pod {pod.name} on node {pod.node}")
    if pod is not None and pod.phase == "Running" and current.failed_reason is None:
        if build.status.phase != "Running":
            build.event("Normal", "Started", f"worker {pod.name} running on {pod.node}")
        build.condition("Running", "True", "Started", f"worker {pod.name}")
        return
    if pod is not None and pod.phase == "Succeeded" and current.failed_reason is None:
        _succeeded(build, pod, config)
        return
    if _pod_exit_pending(current, observed.now):
        build.plan.requeue_after = POD_EXIT_POLL_SECONDS
        return
    _failed(build, current, pod)


def _pod_exit_pending(current: JobView, now: datetime) -> bool:
    """The Job failed but its pod's exit is not seen yet (the pod's watch lags the Job's): deciding now would read
    a bad input (exit 2, final) or a transient failure (75) as an unknown one and retry it. A deadline is final
    whatever the exit; after the grace, or with the pod gone, the decision goes ahead with what is known."""
    if current.failed_reason is None or current.failed_reason == "DeadlineExceeded":
        return False
    pod = current.pod
    if pod is not None and (pod.exit_code is not None or pod.phase in ("Failed", "Succeeded")):
        return False
    if current.failed_at is None:  # a Failed condition without its time: nothing to measure the grace from
        return False
    return (now - current.failed_at).total_seconds() < POD_EXIT_GRACE_SECONDS


def _succeeded(build: _Builder, pod: PodView, config: WorkerConfig) -> None:
    summary = WorkerSummary.parse(pod.termination_message)
    status = build.status
    if summary is not None:
        for name in ("transcript_id", "audio_seconds", "processing_seconds", "real_time_factor"):
            if (value := getattr(summary, name)) is not None:
                setattr(status, name, value)
    transcript = status.transcript_id
    if transcript:  # each asked rendering, as the Registry the worker pushed to renders it on demand
        registry = config.registry_url.rstrip("/")
        formats = build.observed.transcription_job.spec.output_formats
        status.outputs = {f: f"{registry}/v1/transcripts/{transcript}?format={f}" for f in formats}
    status.completion_time = build.now
    status.message = f"transcript {transcript}" if transcript else "done"
    build.condition("Running", "False", "Completed", "")
    build.condition("Succeeded", "True", "Completed", status.message)
    rtf = summary.real_time_factor if summary is not None and summary.real_time_factor is not None else "?"
    build.event("Normal", "Succeeded", f"{status.message}, RTF {rtf}")
    build.plan.requeue_after = None


def _failed(build: _Builder, current: JobView, pod: PodView | None) -> None:
    spec = build.observed.transcription_job.spec
    summary = WorkerSummary.parse(pod.termination_message if pod else None)
    message = str(
        (summary.message if summary else None)
        or current.failed_message
        or (pod.termination_message if pod else "")
        or ""
    )
    failures = (build.previous.failed_attempts or 0) + 1
    outcome = policy.after_failure(
        pod.exit_code if pod else None,
        failures,
        spec.max_retries,
        message[:1000],
        reason=current.failed_reason or (pod.termination_reason if pod else "") or "",
    )
    build.status.failed_attempts = failures
    build.condition("Running", "False", outcome.reason, message[:1000])
    if outcome.verdict == "retry":
        build.condition("Scheduled", "False", "RetryBackoff", f"attempt {current.attempt + 1} waits for its turn")
        retry_at = build.observed.now + timedelta(seconds=outcome.delay_seconds)
        build.status.next_attempt_time = now_rfc3339(retry_at)
        build.status.message = (
            f"attempt {current.attempt} failed ({outcome.reason}); retry in {outcome.delay_seconds:g} s"
        )
        build.event("Warning", "Retrying", build.status.message)
        build.plan.requeue_after = outcome.delay_seconds
        return
    build.status.completion_time, build.status.message = build.now, outcome.message
    build.condition("Failed", "True", outcome.reason, outcome.message)
    build.condition("Succeeded", "False", outcome.reason, "")
    build.event("Warning", "Failed", outcome.message)
    build.plan.requeue_after = None
