"""A batch/v1 Job controller: one pod per attempt, status counters and the Complete/Failed conditions."""

from __future__ import annotations

import copy
import datetime
from typing import Any

from kubesim.controllers import Controller, record_event, resource, tolerate_gone
from kubesim.timestamps import now, parse
from kubesim.views import Event

Object = dict[str, Any]
COMPONENT = "job-controller"


def _condition(type_: str, reason: str, message: str) -> Object:
    timestamp = now()
    return {
        "type": type_,
        "status": "True",
        "lastProbeTime": timestamp,
        "lastTransitionTime": timestamp,
        "reason": reason,
        "message": message,
    }


def _verdict_conditions(kind: str, reason: str, message: str) -> list[Object]:
    """Upstream (1.31+) sets SuccessCriteriaMet before Complete and FailureTarget before Failed."""
    first = "SuccessCriteriaMet" if kind == "Complete" else "FailureTarget"
    return [_condition(first, reason, message), _condition(kind, reason, message)]


def _finished(job: Object) -> bool:
    return any(
        c["type"] in ("Complete", "Failed") and c["status"] == "True"
        for c in (job.get("status") or {}).get("conditions") or []
    )


class JobController(Controller):
    def interested(self, event: Event) -> bool:
        return event.resource.kind in ("Job", "Pod")

    async def sweep(self) -> None:
        jobs_type, pods_type = resource(self.store, "batch", "jobs"), resource(self.store, "", "pods")
        jobs, _ = self.store.list(jobs_type, None, copies=False)  # read only; writes go through the store
        pods, _ = self.store.list(pods_type, None, copies=False)
        owned: dict[str, list[Object]] = {}
        for pod in pods:
            for ref in pod["metadata"].get("ownerReferences") or []:
                owned.setdefault(ref.get("uid", ""), []).append(pod)
        for job in jobs:
            if job["metadata"].get("deletionTimestamp") or _finished(job) or (job.get("spec") or {}).get("suspend"):
                continue
            self._reconcile(job, owned.get(job["metadata"]["uid"], []))

    def _reconcile(self, job: Object, pods: list[Object]) -> None:
        spec = job["spec"]
        phases = [(p.get("status") or {}).get("phase") for p in pods]
        succeeded, failed = phases.count("Succeeded"), phases.count("Failed")
        running = [
            p
            for p, phase in zip(pods, phases, strict=True)
            if phase not in ("Succeeded", "Failed") and not p["metadata"].get("deletionTimestamp")
        ]
        status = copy.deepcopy(job.get("status") or {})
        status.setdefault("startTime", now())
        verdict = self._verdict(spec, status, succeeded, failed)
        if verdict:
            if verdict[0] == "Failed":
                self._delete_pods(running)
                running = []
            status.setdefault("conditions", []).extend(_verdict_conditions(*verdict))
            if verdict[0] == "Complete":
                status["completionTime"] = now()
        elif len(running) < spec.get("parallelism", 1):
            self._create_pod(job)
            running.append(job)
        counts = {"active": len(running), "succeeded": succeeded, "failed": failed}
        status.update({k: v for k, v in counts.items() if v}, ready=0, terminating=0, uncountedTerminatedPods={})
        for key in (k for k, v in counts.items() if not v):
            status.pop(key, None)
        if status != job.get("status"):
            self._write_status(job, status)
            if verdict:
                kind, reason, message = verdict
                type_ = "Warning" if kind == "Failed" else "Normal"
                record_event(
                    self.store,
                    job,
                    reason if kind == "Failed" else "Completed",
                    message,
                    type_=type_,
                    component=COMPONENT,
                )

    def _verdict(self, spec: Object, status: Object, succeeded: int, failed: int) -> tuple[str, str, str] | None:
        """(Complete|Failed, reason, message) once the Job is finished; arms a timed sweep for its deadline."""
        if succeeded >= spec.get("completions", 1):
            return ("Complete", "CompletionsReached", "Reached expected number of succeeded pods")
        if failed > spec.get("backoffLimit", 6):
            return ("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit")
        deadline = spec.get("activeDeadlineSeconds")
        if deadline is not None:
            left = deadline - (datetime.datetime.now(datetime.UTC) - parse(status["startTime"])).total_seconds()
            if left <= 0:
                return ("Failed", "DeadlineExceeded", "Job was active longer than specified deadline")
            self.wake_after(left)
        return None

    def _delete_pods(self, pods: list[Object]) -> None:
        pods_type = resource(self.store, "", "pods")
        for pod in pods:
            meta = pod["metadata"]
            tolerate_gone(lambda m=meta: self.store.delete(pods_type, m["namespace"], m["name"]))

    def _write_status(self, job: Object, status: Object) -> None:
        jobs_type, meta = resource(self.store, "batch", "jobs"), job["metadata"]
        tolerate_gone(
            lambda: self.store.patch(
                jobs_type,
                meta["namespace"],
                meta["name"],
                lambda current: {**current, "status": status},
                subresource="status",
            )
        )

    def _create_pod(self, job: Object) -> None:
        meta, template = job["metadata"], copy.deepcopy(job["spec"]["template"])
        pod_meta = template.setdefault("metadata", {})
        pod_meta["generateName"] = f"{meta['name']}-"
        pod_meta["ownerReferences"] = [
            {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "name": meta["name"],
                "uid": meta["uid"],
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta, "spec": template.get("spec", {})}
        created = tolerate_gone(lambda: self.store.create(resource(self.store, "", "pods"), meta["namespace"], pod))
        if created:
            record_event(
                self.store, job, "SuccessfulCreate", f"Created pod: {created['metadata']['name']}", component=COMPONENT
            )
