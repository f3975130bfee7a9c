"""The Kopf layer's own pieces, without a cluster: what it reads from the cluster autoscaler's Events, how it
gathers the observation from its indexes, the Registry writes per phase change, and where it finds the cluster."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import httpx

from controller import operator
from controller.scaleups import ScaleUps, scopes
from controller.settings import Settings
from dhg_contract.calls import unreachable
from dhg_contract.client import Pushed
from dhg_contract.schemas import JobIn, JobOut, JobPatch

UID = "0e6f3b2a-1111-4c2d-8e9f-0a1b2c3d4e5f"
BODY = {
    "apiVersion": "factory.dhg.ai/v1alpha1",
    "kind": "TranscriptionJob",
    "metadata": {"name": "talk", "namespace": "media", "uid": UID},
    "spec": {"source": {"url": "https://example.org/talk.opus"}, "device": "cpu"},
}


def autoscaler_event(pod: str, last: str, kind: str = "Pod", name: str = "") -> dict[str, Any]:
    """A TriggeredScaleUp Event as cluster-autoscaler (client-go's core/v1 recorder) posts it."""
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name or f"{pod}.17a1b2c3d4e5f6a7", "namespace": "media", "creationTimestamp": last},
        "involvedObject": {"apiVersion": "v1", "kind": kind, "name": pod, "namespace": "media", "uid": "u-1"},
        "reason": "TriggeredScaleUp",
        "message": "pod triggered scale-up: [{gpu-pool 0->1 (max: 4)}]",
        "source": {"component": "cluster-autoscaler"},
        "firstTimestamp": "2026-11-25T07:00:00Z",
        "lastTimestamp": last,
        "count": 1,
        "type": "Normal",
    }


def test_the_autoscalers_scale_up_events_are_kept_by_pod_with_their_latest_time():
    kept = ScaleUps()
    kept.apply("ADDED", autoscaler_event("talk-gpu-1-x7k2q", "2026-11-25T07:03:00Z"))
    assert kept.latest("media", "talk-gpu-1-x7k2q") == datetime(2026, 11, 25, 7, 3, tzinfo=UTC)
    series = autoscaler_event("talk-gpu-1-x7k2q", "", name="talk-gpu-1-x7k2q.2")
    series |= {"lastTimestamp": None, "series": {"count": 3, "lastObservedTime": "2026-11-25T07:09:00.120000Z"}}
    kept.apply("ADDED", series)
    assert kept.latest("media", "talk-gpu-1-x7k2q") == datetime(2026, 11, 25, 7, 9, 0, 120000, tzinfo=UTC)
    kept.apply("DELETED", series)  # expired: the earlier Event's time again
    assert kept.latest("media", "talk-gpu-1-x7k2q") == datetime(2026, 11, 25, 7, 3, tzinfo=UTC)
    kept.apply("ADDED", autoscaler_event("n", "2026-11-25T07:03:00Z", "Node"))
    assert kept.latest("media", "n") is None and len(kept) == 1
    kept.replace("elsewhere", [])  # another namespace's list leaves this one's
    assert len(kept) == 1
    kept.replace("media", [autoscaler_event("other-pod", "2026-11-25T07:04:00Z")])
    assert kept.latest("media", "talk-gpu-1-x7k2q") is None and kept.latest("media", "other-pod") is not None


def test_named_namespaces_are_watched_each_and_patterns_or_none_cluster_wide():
    assert scopes([]) == [None]
    assert scopes(["media", "calls", "media"]) == ["media", "calls"]
    assert scopes(["media", "team-*"]) == [None]


def job_manifest(name: str) -> dict[str, Any]:
    labels = {"factory.dhg.ai/transcriptionjob": "talk", "factory.dhg.ai/placement": "gpu"}
    return {"metadata": {"name": name, "labels": labels | {"factory.dhg.ai/attempt": "1"}}, "status": {}}


def pod_manifest(name: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "creationTimestamp": "2026-11-25T07:00:01Z"}, "spec": {}, "status": {}}


def test_observe_gathers_this_jobs_pods_and_the_autoscalers_word_on_them():
    indexes = {
        "worker_jobs": {("media", "talk"): [job_manifest("talk-gpu-1")]},
        "worker_pods": {("media", "talk-gpu-1"): [pod_manifest("talk-gpu-1-x7k2q")]},
        "gpu_nodes": {"gpu": ["gpu-1", "gpu-2"]},
    }
    said = ScaleUps()
    for pod, when, name in [
        ("talk-gpu-1-x7k2q", "2026-11-25T07:01:00Z", "a"),
        ("talk-gpu-1-x7k2q", "2026-11-25T07:03:00Z", "b"),
        ("someone-elses-pod", "2026-11-25T07:05:00Z", "c"),
    ]:
        said.apply("ADDED", autoscaler_event(pod, when, name=name))
    observed = operator.observe(BODY, {}, indexes, said)
    assert [view.pod.name for view in observed.worker_jobs if view.pod] == ["talk-gpu-1-x7k2q"]
    assert observed.gpu_nodes == 2
    assert observed.scale_ups == {"talk-gpu-1-x7k2q": datetime(2026, 11, 25, 7, 3, tzinfo=UTC)}
    assert operator.observe(BODY, {}, indexes, ScaleUps()).scale_ups == {}


class Registry:
    """The Registry's job records as the client sees them, counting the calls."""

    def __init__(self) -> None:
        self.jobs: dict[str, JobOut] = {}
        self.calls: list[tuple[str, str | None]] = []

    async def create_job(self, job: JobIn) -> Pushed[JobOut]:
        self.calls.append(("create", job.phase))
        key = str(job.id)
        created = key not in self.jobs
        if created:
            now = datetime.now(UTC)
            self.jobs[key] = JobOut(
                **job.model_dump(exclude={"source", "phase", "attempts"}),
                source=job.source.model_dump(),
                phase=job.phase or "Pending",
                attempts=job.attempts or 0,
                created_by="controller",
                created_at=now,
                updated_at=now,
            )
        return Pushed(self.jobs[key], created)

    async def update_job(self, job_id: uuid.UUID, patch: JobPatch) -> JobOut:
        self.calls.append(("update", patch.phase))
        key = str(job_id)
        self.jobs[key] = self.jobs[key].model_copy(update=patch.model_dump(exclude_unset=True))
        return self.jobs[key]


def memo(registry: Registry) -> SimpleNamespace:
    return SimpleNamespace(registry=registry, recorded={}, cancelled={}, registry_calls=asyncio.Semaphore(4))


class DownRegistry(Registry):
    """A Registry that cannot be reached until `up` is set."""

    up = False

    async def create_job(self, job: JobIn) -> Pushed[JobOut]:
        if not self.up:
            raise unreachable("POST", "/v1/jobs", httpx.PoolTimeout(""))
        return await super().create_job(job)


def test_a_record_that_fails_says_so_and_the_next_pass_writes_it():
    registry = DownRegistry()
    state = memo(registry)
    done = {"phase": "Succeeded", "device": "cpu", "attempts": 1, "transcriptId": str(uuid.uuid4())}
    assert asyncio.run(operator.record(state, BODY, done)) is False and state.recorded == {}
    registry.up = True
    assert asyncio.run(operator.record(state, BODY, done)) is True
    assert registry.jobs[UID].phase == "Succeeded" and state.recorded == {UID: "Succeeded"}


def test_each_phase_change_is_one_registry_write_the_first_a_create_as_it_stands():
    registry = Registry()
    state = memo(registry)
    scheduling = {"phase": "Scheduling", "device": "cpu", "attempts": 1, "startTime": "2026-11-25T07:00:00Z"}
    for status in (scheduling, scheduling, {**scheduling, "phase": "Running"}, {**scheduling, "phase": "Running"}):
        asyncio.run(operator.record(state, BODY, status))
    assert registry.calls == [("create", "Scheduling"), ("update", "Running")]
    stored = registry.jobs[UID]
    assert (stored.phase, stored.device, stored.attempts, stored.name) == ("Running", "cpu", 1, "media/talk")
    assert stored.started_at == datetime(2026, 11, 25, 7, tzinfo=UTC)

    # A restarted controller (an empty memo) creates again: the stored record answers; a new phase still needs its
    # update, the same phase none.
    restarted = memo(registry)
    asyncio.run(operator.record(restarted, BODY, {**scheduling, "phase": "Running"}))
    assert registry.calls[2:] == [("create", "Running")]
    again = memo(registry)
    asyncio.run(operator.record(again, BODY, {**scheduling, "phase": "Succeeded", "transcriptId": str(uuid.uuid4())}))
    assert registry.calls[3:] == [("create", "Succeeded"), ("update", "Succeeded")]
    assert registry.jobs[UID].phase == "Succeeded" and again.recorded == {UID: "Succeeded"}


def test_the_kubeconfig_is_read_with_the_settings_not_when_a_library_was_imported(monkeypatch):
    monkeypatch.setenv("KUBECONFIG", "/etc/dhg/kubeconfig:/home/dhg/.kube/config")
    assert Settings().kubeconfig == "/etc/dhg/kubeconfig:/home/dhg/.kube/config"
    monkeypatch.delenv("KUBECONFIG")
    assert Settings().kubeconfig is None
