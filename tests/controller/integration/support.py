"""Helpers of the operator's end-to-end tests."""

from __future__ import annotations

from pathlib import Path

from tests.kube.waiting import wait_for, wait_until

ROOT = Path(__file__).parents[3]
FAKE_WORKER = Path(__file__).parents[1] / "fake_worker.py"
GROUP, PLURAL = "factory.dhg.ai", "transcriptionjobs"
KOPF_RUN = ["run", "--standalone", "--all-namespaces", "-m", "controller.operator"]


def job(name: str, **spec) -> dict:
    spec.setdefault("source", {"url": f"https://media.example.org/{name}.opus"})
    return {"apiVersion": f"{GROUP}/v1alpha1", "kind": "TranscriptionJob", "metadata": {"name": name}, "spec": spec}


def finished(api, name: str, timeout: float = 60) -> dict:
    found = wait_for(
        api,
        GROUP,
        PLURAL,
        "default",
        name,
        lambda o: (o or {}).get("status", {}).get("phase") in {"Succeeded", "Failed"},
        timeout,
    )
    assert found is not None
    return found


def worker_jobs(api, name: str) -> list[dict]:
    items, _ = api.store.list(api.store.registry.get("batch", "jobs"), "default")
    return [j for j in items if j["metadata"]["labels"].get(f"{GROUP}/transcriptionjob") == name]


def delete_while_running(api, kubectl, admin, name: str) -> str:
    """Wait until the job runs and the Registry records it so, delete it with kubectl (waiting for it to go), and
    check the record is Cancelled; returns the job's uid."""
    running = wait_for(
        api, GROUP, PLURAL, "default", name, lambda o: (o or {}).get("status", {}).get("phase") == "Running"
    )
    uid = running["metadata"]["uid"]
    wait_until(api, lambda: admin.get(f"/v1/jobs/{uid}").json().get("phase") == "Running", what="recorded")
    kubectl.run("delete", "tj", name, "--wait=true", timeout=90)
    assert admin.get(f"/v1/jobs/{uid}").json()["phase"] == "Cancelled"
    return uid
