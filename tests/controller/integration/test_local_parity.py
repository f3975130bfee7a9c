"""One manifest, two places: the same TranscriptionJob through the operator (real Kopf, the test Kubernetes API,
the real worker) and through `dhg apply` on a running `dhg up`, ending in the same status (phase, device,
attempts, failures, conditions' types, statuses and reasons) and the same Registry record. The source fails once
(a 503 under /flaky/) so that both take the same path: no GPU → CPU at once, a retry after the backoff, then success."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import yaml

from dhg.datadir import read_state
from dhg.jobs.store import JobStore, connection_url
from kubesim.waiting import wait_until
from tests.controller.integration.support import (  # noqa: F401 (fixtures: the real worker and the media server)
    ROOT,
    finished,
    media_server,
    real_worker_command,
    real_worker_token,
)
from tests.dhg.integration.conftest import ServingStack, serve
from tests.dhg.runner import run_dhg

COMPARED = ("phase", "device", "attempts", "failedAttempts")
RECORD_FIELDS = ("name", "source", "parameters", "phase", "device", "attempts", "error")


def outcome(status: dict[str, Any]) -> dict[str, Any]:
    conditions = sorted((c["type"], c["status"], c["reason"]) for c in status["conditions"])
    return {**{key: status.get(key) for key in COMPARED}, "conditions": conditions}


def test_the_same_manifest_ends_the_same_through_the_operator_and_dhg_apply(
    kube_api, cluster, kubectl, registry_env, operator, media, tmp_path: Path
) -> None:
    admin, (base, _) = registry_env, media
    manifest = yaml.safe_load((ROOT / "examples" / "auto-fallback.yaml").read_text())
    name = manifest["metadata"]["name"]

    cluster.add_node("cpu-1")  # no GPU node: auto falls back at once, as on a laptop without CUDA
    manifest["spec"]["source"] = {"url": f"{base}/flaky/cluster/interview.opus"}
    on_cluster = tmp_path / "cluster.yaml"
    on_cluster.write_text(yaml.safe_dump(manifest))
    kubectl.run("apply", "-f", str(on_cluster))
    cluster_object = finished(kube_api, name, timeout=240)
    cluster_uid = cluster_object["metadata"]["uid"]
    cluster_record = wait_until(
        kube_api,
        lambda: (r := admin.get(f"/v1/jobs/{cluster_uid}").json()).get("phase") == "Succeeded" and r,
        what="the operator's record",
    )

    stack = serve(tmp_path / "data", tmp_path / "dhg-up.out")
    try:
        manifest["spec"]["source"] = {"url": f"{base}/flaky/laptop/interview.opus"}
        on_laptop = tmp_path / "laptop.yaml"
        on_laptop.write_text(yaml.safe_dump(manifest))
        applied = run_dhg("apply", "-f", on_laptop, "--wait", "--data-dir", stack.data_dir.root)
        assert applied.returncode == 0, applied.stdout + applied.stderr
        state = read_state(stack.data_dir)
        assert state is not None
        local_object = JobStore(connection_url(state.postgres_port)).get("default", name)
        assert local_object is not None
        with stack_client(stack) as local_admin:
            local_record = local_admin.get(f"/v1/jobs/{local_object['metadata']['uid']}").json()
    finally:
        stack.stop()

    expected = {"phase": "Succeeded", "device": "cpu", "attempts": 2, "failedAttempts": 1}
    assert {k: v for k, v in outcome(cluster_object["status"]).items() if k in expected} == expected
    assert outcome(local_object["status"]) == outcome(cluster_object["status"])
    without_source = [{k: v for k, v in o["spec"].items() if k != "source"} for o in (local_object, cluster_object)]
    assert without_source[0] == without_source[1]  # the same defaults
    source_free = {k: local_record[k] for k in RECORD_FIELDS if k != "source"}
    assert source_free == {k: cluster_record[k] for k in RECORD_FIELDS if k != "source"}
    assert set(local_record) == set(cluster_record) and local_record["id"] == local_object["metadata"]["uid"]
    assert local_record["transcript_id"] == local_object["status"]["transcriptId"]


def stack_client(stack: ServingStack) -> httpx.Client:
    return httpx.Client(base_url=stack.url, headers={"Authorization": f"Bearer {stack.admin_token}"}, timeout=30)
