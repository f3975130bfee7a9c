"""The Kopf wiring around `controller.reconcile`: gather the observation, carry the plan out.

One daemon per TranscriptionJob runs the level-triggered loop: observe (the Jobs and pods it owns and the cluster's
GPU nodes from Kopf's in-memory indexes kept by watches, the cluster autoscaler's scale-ups for those pods from
`controller.scaleups`' server-filtered watch, so a pass costs no API call), reconcile, create or delete worker
Jobs, write the whole status (conditions included) with one merge-patch on the status subresource, post Events,
record the phase in the Registry, then sleep until a Job or pod of its own changes or the plan's requeue time comes.

Kopf settings chosen on purpose (see `configure`): handler progress lives in annotations under our own prefix, and
no diff base is kept (`NoDiffBase`); peering with a random priority per replica, so with two replicas exactly one
acts; Events only for warnings and above from Kopf's own logging (ours are posted explicitly).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from datetime import UTC, datetime
from typing import Any

import kopf
from kubernetes.client.exceptions import ApiException

from controller import metrics, records, transitions
from controller.kube import Kube
from controller.manifests import LABEL_JOB
from controller.model import GROUP, PLURAL, VERSION, TranscriptionJob
from controller.reconcile import JobView, Observed, Plan, PodView, reconcile
from controller.scaleups import ScaleUps, ScaleUpWatch
from controller.settings import get_settings
from dhg_contract.client import AsyncRegistryClient, RegistryAPIError
from dhg_core.vocabulary import TERMINAL_PHASES

PREFIX = GROUP
IDLE_SECONDS = 300.0
# Registry writes in flight at once: a burst of jobs queues here rather than in the HTTP client's pool, where
# a thousand writes at once waited past its timeout and were dropped.
REGISTRY_CALLS = 16
RECORD_RETRY_SECONDS = (2.0, 60.0)  # a finished job's record that failed: tried again, backing off to the cap
CANCELLED_KEPT = 10_000
log = logging.getLogger("controller")
AnyIndex = kopf.Index[Any, Any]


class NoDiffBase(kopf.DiffBaseStorage):
    """No "last handled configuration": this operator has no create, update or resume handlers (a daemon and a
    delete handler), so there is no diff to compute, and storing one cost a patch per job (plus ~2 kB kept on
    each object). Every event then reads as a creation with no handlers, which Kopf skips."""

    def fetch(self, *, body: kopf.Body) -> None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: Any) -> None:
        return None


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    ours = get_settings()
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=PREFIX)
    settings.persistence.diffbase_storage = NoDiffBase()
    settings.persistence.finalizer = f"{PREFIX}/registry-record"
    settings.posting.level = logging.WARNING
    settings.peering.name = ours.peering_name
    settings.peering.priority = random.randint(1, 1_000_000)  # noqa: S311 (ordering replicas, not security)
    settings.peering.standalone = ours.standalone
    settings.peering.mandatory = not ours.standalone  # no peering object: wait, rather than act unguarded
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.networking.request_timeout = 30
    memo.kube = Kube.connect(ours.kubeconfig)
    memo.scale_ups = ScaleUps()
    memo.scale_up_watch = ScaleUpWatch(memo.kube.api, ours.namespaces, memo.scale_ups).start()
    memo.settings = ours
    memo.config = ours.worker
    memo.wakeups = {}
    memo.recorded = {}  # TranscriptionJob uid → the phase last written to the Registry
    memo.census = metrics.Census()
    memo.cancelled = {}  # uids of deleted TranscriptionJobs, oldest first (the last CANCELLED_KEPT)
    memo.registry = None
    memo.registry_calls = asyncio.Semaphore(REGISTRY_CALLS)
    if ours.registry_url:
        token = ours.registry_token.get_secret_value() if ours.registry_token else None
        memo.registry = AsyncRegistryClient(ours.registry_url, token)
    metrics.serve(ours.metrics_port)


@kopf.on.cleanup()
async def close(memo: Any, **_: Any) -> None:
    memo.scale_up_watch.stop()
    memo.kube.close()
    if memo.registry is not None:
        await memo.registry.aclose()


@kopf.on.login()
def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    """In a pod: its service account; elsewhere: $KUBECONFIG (read now, not when a library was imported)."""
    return kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)


@kopf.on.probe(id="watching")
def watching(**_: Any) -> bool:
    return True


@kopf.index("", "v1", "nodes")
def gpu_nodes(name: str, status: kopf.Status, spec: kopf.Spec, **_: Any) -> dict[str, str] | None:
    """Nodes offering allocatable nvidia.com/gpu, ready and schedulable (for placement without guessing)."""
    allocatable = int(str((status.get("allocatable") or {}).get("nvidia.com/gpu", "0")) or 0)
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
    if allocatable > 0 and ready and not spec.get("unschedulable"):
        return {"gpu": name}
    return None


@kopf.index("batch", "v1", "jobs", labels={LABEL_JOB: kopf.PRESENT})
def worker_jobs(namespace: str | None, labels: kopf.Labels, body: kopf.Body, **_: Any) -> dict[Any, Any]:
    return {(namespace, labels[LABEL_JOB]): JobView.essentials(body)}


@kopf.index("", "v1", "pods", labels={LABEL_JOB: kopf.PRESENT})
def worker_pods(namespace: str | None, labels: kopf.Labels, body: kopf.Body, **_: Any) -> dict[Any, Any]:
    return {(namespace, labels.get("job-name", "")): PodView.essentials(body)}


def _wake(memo: Any, namespace: str | None, name: str) -> None:
    event = memo.wakeups.get((namespace, name))
    if event is not None:
        event.set()


@kopf.on.event("batch", "v1", "jobs", labels={LABEL_JOB: kopf.PRESENT})
def job_changed(namespace: str | None, labels: kopf.Labels, memo: Any, **_: Any) -> None:
    _wake(memo, namespace, labels[LABEL_JOB])


@kopf.on.event("", "v1", "pods", labels={LABEL_JOB: kopf.PRESENT})
def pod_changed(namespace: str | None, labels: kopf.Labels, memo: Any, **_: Any) -> None:
    _wake(memo, namespace, labels[LABEL_JOB])


def observe(body: kopf.Body, status: dict[str, Any], indexes: dict[str, AnyIndex], scale_ups: ScaleUps) -> Observed:
    """The TranscriptionJob (with `status`, the one this operator wrote last), its Jobs and pods and the GPU nodes
    (`indexes`: Kopf's, by name), the autoscaler's scale-ups for those pods."""
    job = TranscriptionJob.model_validate({**dict(body), "status": status or None})
    namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
    views, said = [], {}
    for manifest in indexes["worker_jobs"].get((namespace, name), []):
        pods = list(indexes["worker_pods"].get((namespace, manifest["metadata"]["name"]), []))
        views.append(JobView.from_job(manifest, pods))
        for pod in pods:
            pod_name = pod["metadata"]["name"]
            if (when := scale_ups.latest(namespace, pod_name)) is not None:
                said[pod_name] = when
    gpu_nodes = len(list(indexes["gpu_nodes"].get("gpu", [])))
    return Observed(job, views, gpu_nodes, datetime.now(UTC), said)


async def carry_out(kube: Kube, plan: Plan, body: kopf.Body, previous: dict[str, Any]) -> None:
    """Delete, create, write the status, post the Events: in that order, so a crash in between repeats work
    (409 on create, 404 on delete: both fine) rather than losing it."""
    namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
    for job_name in plan.delete:
        try:
            await kube.call(kube.batch.delete_namespaced_job, job_name, namespace, propagation_policy="Background")
        except ApiException as error:
            if error.status != 404:
                raise
    for manifest in plan.create:
        try:
            await kube.call(kube.batch.create_namespaced_job, namespace, manifest)
            metrics.JOBS_LAUNCHED.labels(manifest["metadata"]["labels"]["factory.dhg.ai/placement"]).inc()
        except ApiException as error:
            if error.status != 409:  # created before a restart: the same name, so no second worker
                raise
    if plan.status != previous:  # most passes (a pod's every change wakes one) change nothing: no write then
        patch = {key: None for key in previous if key not in plan.status} | plan.status
        await kube.call(
            kube.objects.patch_namespaced_custom_object_status,
            GROUP,
            VERSION,
            namespace,
            PLURAL,
            name,
            {"status": patch},
        )
    for kind, reason, message in plan.events:
        kopf.event(body, type=kind, reason=reason, message=message)
        if reason == "GPUFallback":
            metrics.FALLBACKS.inc()


async def record(memo: Any, body: kopf.Body, status: dict[str, Any]) -> bool:
    """Keep the Registry's job record (id = the TranscriptionJob's uid) in step with the phase: one write per
    phase change (the first creates it as it stands). Whether the Registry has this phase now (or needs none);
    a Registry that is down is tried again on the next pass (a finished job's daemon waits for it), and the
    cluster's work goes on meanwhile."""
    if memo.registry is None or not status.get("phase"):
        return True
    uid, phase = body["metadata"]["uid"], status["phase"]
    if memo.recorded.get(uid) == phase or uid in memo.cancelled:
        return True
    try:
        async with memo.registry_calls:
            if uid not in memo.recorded:
                stored = (await memo.registry.create_job(records.job(body, status))).value
                if stored.phase == phase:  # created now, or recorded so before (by a replica before a restart)
                    memo.recorded[uid] = phase
                    return True
            await memo.registry.update_job(uid, records.patch(status))
        memo.recorded[uid] = phase
        return True
    except (RegistryAPIError, OSError) as error:
        metrics.REGISTRY_ERRORS.inc()
        log.warning("could not record the job in the Registry", extra={"job": uid, "error": repr(error)[:300]})
        return False


@kopf.on.delete(GROUP, VERSION, PLURAL, retries=20, backoff=5)
async def deleted(body: kopf.Body, status: kopf.Status, uid: str | None, memo: Any, **_: Any) -> None:
    """Worker Jobs and pods go with their owner (garbage collection); the Registry's record, outside the cluster,
    is marked Cancelled here, before Kopf's finalizer lets the object go."""
    memo.recorded.pop(uid, None)
    memo.cancelled[uid] = None  # a supervising pass still under way records nothing after this
    while len(memo.cancelled) > CANCELLED_KEPT:
        del memo.cancelled[next(iter(memo.cancelled))]
    memo.census.forget(uid)
    if memo.registry is None or status.get("phase") in TERMINAL_PHASES:
        return
    try:
        async with memo.registry_calls:
            await memo.registry.update_job(uid, records.CANCELLED)
    except RegistryAPIError as error:
        if error.status == 404:  # never recorded
            return
        raise kopf.TemporaryError(f"the Registry did not take the cancellation: {error}", delay=5) from error
    except OSError as error:
        raise kopf.TemporaryError(f"the Registry is unreachable: {error}", delay=5) from error


@kopf.daemon(GROUP, VERSION, PLURAL, cancellation_timeout=10.0)
async def supervise(
    stopped: kopf.DaemonStopped,
    body: kopf.Body,
    memo: Any,
    **indexes: Any,
) -> None:
    """The loop of one TranscriptionJob, until it ends or is deleted (`indexes`: Kopf's live indexes, by name)."""
    key, uid = (body["metadata"]["namespace"], body["metadata"]["name"]), body["metadata"]["uid"]
    wakeup = memo.wakeups.setdefault(key, asyncio.Event())
    # This daemon is the status's only writer: after its first pass it trusts what it wrote last, not the body,
    # which lags until the watch brings the write back (acting on that stale copy relaunched a deleted Job).
    status: dict[str, Any] = dict(body.get("status") or {})
    unrecorded = 0  # passes in a row whose Registry write failed
    try:
        while not stopped:
            wakeup.clear()  # before observing: a change that lands during this pass wakes the next one
            if body.get("metadata", {}).get("deletionTimestamp"):
                return
            started = time.perf_counter()
            try:
                observed = observe(body, status, indexes, memo.scale_ups)
                plan = reconcile(observed, memo.config)
                await carry_out(memo.kube, plan, body, status)
                worker = max(observed.worker_jobs, key=lambda view: view.attempt, default=None)
                transitions.observe(
                    status,
                    plan.status,
                    created=body["metadata"].get("creationTimestamp"),
                    model=memo.config.served_model(observed.transcription_job.spec.model) or "",
                    models=memo.config.models,
                    retried=any(reason == "Retrying" for _, reason, _ in plan.events),
                    worker_started=worker.pod.started_at if worker is not None and worker.pod is not None else None,
                )
                status = plan.status
                if stopped:  # deleted, paused for a peer, or shutting down meanwhile: nothing more to say
                    break
                memo.census.observe(uid, status.get("phase"), status.get("device"))
                unrecorded = 0 if await record(memo, body, plan.status) else unrecorded + 1
            except (ApiException, ValueError) as error:
                metrics.RECONCILE_ERRORS.inc()
                log.warning("reconcile failed; retrying", extra={"job": key[1], "error": str(error)[:500]})
                plan = Plan(requeue_after=5.0)
            metrics.RECONCILE_SECONDS.observe(time.perf_counter() - started)
            requeue = plan.requeue_after
            if plan.status.get("phase") in TERMINAL_PHASES and requeue is None:
                if not unrecorded:
                    return
                first, cap = RECORD_RETRY_SECONDS  # finished, but the Registry has not heard it yet
                requeue = min(cap, first * 2 ** (unrecorded - 1))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wakeup.wait(), timeout=requeue or IDLE_SECONDS)
    finally:
        memo.wakeups.pop(key, None)
        if stopped:  # not finished here: another replica (or none, once deleted) speaks for it now
            memo.census.forget(uid)
