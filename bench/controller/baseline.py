"""The floor the operator is measured against: the least a controller can do, one `kubernetes`-client watch on
TranscriptionJobs that creates the same worker Job for each new one, sequentially; no status, no Events, no
indexes. `python -m bench.controller.baseline` (KUBECONFIG from the environment)."""

from __future__ import annotations

import os

from kubernetes import client, config, watch

from controller.manifests import build_job
from controller.model import GROUP, PLURAL, VERSION, TranscriptionJob
from controller.settings import get_settings


def main() -> None:
    config.load_kube_config(config_file=os.environ["KUBECONFIG"])  # type: ignore[no-untyped-call]
    worker = get_settings().worker
    objects, batch = client.CustomObjectsApi(), client.BatchV1Api()
    print("ready", flush=True)
    for event in watch.Watch().stream(objects.list_cluster_custom_object, GROUP, VERSION, PLURAL):  # type: ignore[no-untyped-call]
        if event["type"] != "ADDED":
            continue
        job = TranscriptionJob.from_body(event["object"])
        manifest = build_job(job, "cpu", 1, worker)
        batch.create_namespaced_job(job.metadata.namespace, manifest)


if __name__ == "__main__":
    main()
