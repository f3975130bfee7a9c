"""The chart, rendered by real helm: lint-clean, and what it sets is what the controller reads."""

from __future__ import annotations

import pytest

from controller import crd
from controller.manifests import WorkerConfig
from controller.settings import Settings
from tests.charts.helm import CHART, find, helm, render


def test_the_chart_lints_strictly():
    helm("lint", "--strict", str(CHART))
    helm("lint", "--strict", str(CHART), "--set", "controller.watchNamespaces={media,research}")


def test_the_chart_ships_the_generated_crd_and_kopfs_peering_crds():
    assert (CHART / "crds" / "transcriptionjob.yaml").read_text() == crd.render(), "run: make crd"
    names = {d["metadata"]["name"] for d in find(render(), "CustomResourceDefinition")}
    assert names == {"transcriptionjobs.factory.dhg.ai", "clusterkopfpeerings.kopf.dev", "kopfpeerings.kopf.dev"}


CONTROLLER = "dhg-controller"  # the release is `dhg`: objects are named dhg-<component>


def controller_env(documents) -> dict[str, str]:
    (deployment,) = find(documents, "Deployment", CONTROLLER)
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e.get("value", "<from a Secret>") for e in container["env"]}


def settings_from(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings()


def test_every_variable_the_chart_sets_is_one_the_controller_reads():
    env = controller_env(render("controller.watchNamespaces={media}", "worker.dataClaim=media-library"))
    top, worker = set(Settings.model_fields), set(WorkerConfig.model_fields)
    for name in env:
        assert name.startswith("DHG_CONTROLLER_"), name
        key = name.removeprefix("DHG_CONTROLLER_").lower()
        if key.startswith("worker__"):
            assert key.removeprefix("worker__") in worker, f"{name}: WorkerConfig has no such field"
        else:
            assert key in top, f"{name}: controller.settings.Settings has no such field"


def test_the_chart_defaults_are_the_controllers_defaults(monkeypatch):
    settings = settings_from(controller_env(render()), monkeypatch)
    assert settings.worker == WorkerConfig(model_claim="dhg-models")  # the chart's model cache volume
    assert (settings.namespaces, settings.standalone, settings.peering_name) == ([], False, "dhg-controller")


def test_values_reach_the_worker_config(monkeypatch):
    documents = render(
        "controller.watchNamespaces={media,research}",
        "controller.peering.enabled=false",
        "controller.replicas=1",
        "worker.gpuNodeSelector.pool=gpu",
        "worker.cpuRequests.cpu=4",  # a number in values: the quantity "4"
        "worker.dataClaim=media-library",
        "worker.serviceAccount=transcriber",
    )
    settings = settings_from(controller_env(documents), monkeypatch)
    assert settings.namespaces == ["media", "research"] and settings.standalone
    worker = settings.worker
    assert worker.gpu_node_selector == {"nvidia.com/gpu.present": "true", "pool": "gpu"}
    assert worker.cpu_requests == {"cpu": "4", "memory": "1536Mi"}
    assert (worker.data_claim, worker.service_account) == ("media-library", "transcriber")


def test_the_controller_pod_is_locked_down_and_probed():
    (deployment,) = find(render(), "Deployment", CONTROLLER)
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert pod["securityContext"]["runAsNonRoot"]
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    context = container["securityContext"]
    assert context["readOnlyRootFilesystem"] and not context["allowPrivilegeEscalation"]
    assert context["capabilities"]["drop"] == ["ALL"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["command"] == ["python", "-m", "controller"]
    assert deployment["spec"]["replicas"] == 2


def test_peering_objects_follow_the_mode():
    assert [d["kind"] for d in find(render(), "ClusterKopfPeering")] == ["ClusterKopfPeering"]
    namespaced = render("controller.watchNamespaces={media,research}")
    assert not find(namespaced, "ClusterKopfPeering")
    assert sorted(d["metadata"]["namespace"] for d in find(namespaced, "KopfPeering")) == ["media", "research"]
    unpeered = ["controller.peering.enabled=false", "controller.replicas=1"]
    assert not find(render(*unpeered), "ClusterKopfPeering")
    assert not find(render(*unpeered, "controller.watchNamespaces={media}"), "KopfPeering")


SHARDS = (
    "controller.shards[0].name=a",
    "controller.shards[0].namespaces={media,podcasts}",
    "controller.shards[1].name=b",
    "controller.shards[1].namespaces={calls}",
)


def test_each_controller_shard_is_a_deployment_owning_its_namespaces(monkeypatch):
    documents = render(*SHARDS)
    deployments = {
        d["metadata"]["name"]: d for d in find(documents, "Deployment") if "controller" in d["metadata"]["name"]
    }
    assert sorted(deployments) == ["dhg-controller-a", "dhg-controller-b"]
    owned = {}
    for name, deployment in deployments.items():
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e.get("value", "<from a Secret>") for e in container["env"]}
        owned[name] = settings_from(env, monkeypatch).namespaces
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
        (budget,) = find(documents, "PodDisruptionBudget", name)  # two replicas each: one may go at a time
        assert budget["spec"]["selector"]["matchLabels"] == selector
    assert owned == {"dhg-controller-a": ["media", "podcasts"], "dhg-controller-b": ["calls"]}
    selectors = [tuple(sorted(d["spec"]["selector"]["matchLabels"].items())) for d in deployments.values()]
    assert len(set(selectors)) == 2  # no Deployment adopts the other's pods
    everywhere = ["calls", "media", "podcasts"]
    assert sorted(d["metadata"]["namespace"] for d in find(documents, "KopfPeering")) == everywhere
    assert sorted(d["metadata"]["namespace"] for d in find(documents, "RoleBinding")) == everywhere
    tokens = [s for s in find(documents, "Secret") if s["metadata"]["name"] == "dhg-worker-registry-token"]
    assert sorted(s["metadata"]["namespace"] for s in tokens) == everywhere
    assert not find(documents, "ClusterKopfPeering")
    assert {d["metadata"]["name"] for d in find(documents, "ClusterRoleBinding")} == {"dhg-controller-cluster"}


def test_a_namespace_in_two_shards_or_shards_beside_watch_namespaces_is_refused():
    with pytest.raises(AssertionError, match="a namespace belongs to one shard only"):
        render(*SHARDS[:3], "controller.shards[1].namespaces={media}")
    with pytest.raises(AssertionError, match="give each namespace to a shard"):
        render(*SHARDS, "controller.watchNamespaces={other}")


def test_replicas_without_peering_are_refused():
    with pytest.raises(AssertionError, match="runs every replica unguarded"):
        render("controller.peering.enabled=false")  # two replicas by default: both would act


def test_numbers_stay_numbers_the_settings_parse(monkeypatch):
    env = controller_env(render("worker.ttlSecondsAfterFinished=1000000", "controller.metricsPort=19090"))
    assert env["DHG_CONTROLLER_WORKER__TTL_SECONDS_AFTER_FINISHED"] == "1000000"  # not 1e+06
    settings = settings_from(env, monkeypatch)
    assert (settings.worker.ttl_seconds_after_finished, settings.metrics_port) == (1_000_000, 19090)


def test_the_models_values_reach_the_asr_service_and_the_workers_alike(monkeypatch):
    documents = render("asr.defaultModel=tiny.en", "asr.modelAliases.gpt-4o-transcribe=base")
    worker = settings_from(controller_env(documents), monkeypatch).worker
    (deployment,) = find(documents, "Deployment", "dhg-asr")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"] if e["name"].startswith("DHG_ASR_") and "value" in e}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    from asr.settings import Settings as AsrSettings

    served = AsrSettings()
    assert served.default_model == worker.default_model == "tiny.en"
    assert served.models == worker.models == {"base": "bundled", "tiny.en": "bundled"}
    assert served.model_aliases == worker.model_aliases  # OpenAI's other names kept, as the service keeps them
    assert worker.model_aliases["gpt-4o-transcribe"] == "base" and worker.model_aliases["whisper-1"] == ""
    assert worker.served_model(None) == "tiny.en" and worker.served_model("gpt-4o-transcribe") == "base"


def test_the_batch_size_reaches_the_asr_service_and_the_workers_alike(monkeypatch):
    documents = render("asr.batchSize=8", "asr.batchWaitMs=25")  # concurrency unset: as many as a batch holds
    worker = settings_from(controller_env(documents), monkeypatch).worker
    (deployment,) = find(documents, "Deployment", "dhg-asr")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    for item in container["env"]:
        if item["name"].startswith("DHG_ASR_") and "value" in item:
            monkeypatch.setenv(item["name"], item["value"])
    from asr.settings import Settings as AsrSettings

    served = AsrSettings()
    assert (served.batch_size, served.batch_wait_ms, served.decoders) == (8, 25.0, 8)
    assert worker.batch_size == 8  # the workers' DHG_ASR_BATCH_SIZE (tests/controller/unit/test_reconcile.py)
    pinned = find(render("asr.batchSize=8", "asr.concurrency=2"), "Deployment", "dhg-asr")[0]
    env = pinned["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "DHG_ASR_CONCURRENCY", "value": "2"} in env


def test_live_sessions_reach_the_asr_service_through_the_ingress_and_the_route(monkeypatch):
    """GET /v1/realtime (the WebSocket of a live session) goes to the ASR service whichever way traffic comes in;
    the HTTPRoute's timeouts outlast a session; the session settings reach the service."""
    documents = render(
        "httpRoute.enabled=true", "httpRoute.parentRefs[0].name=gateway", "asr.realtime.maxSessionSeconds=600"
    )
    (ingress,) = find(documents, "Ingress")
    paths = {p["path"]: p["backend"]["service"]["name"] for p in ingress["spec"]["rules"][0]["http"]["paths"]}
    assert paths["/v1/realtime"] == paths["/v1/audio"] == "dhg-asr"
    (route,) = find(documents, "HTTPRoute")
    (live,) = [r for r in route["spec"]["rules"] if r["matches"][0]["path"]["value"] == "/v1/realtime"]
    assert live["backendRefs"][0]["name"] == "dhg-asr"
    assert live["timeouts"] == {"request": "660s", "backendRequest": "660s"}
    (deployment,) = find(documents, "Deployment", "dhg-asr")
    for item in deployment["spec"]["template"]["spec"]["containers"][0]["env"]:
        if item["name"].startswith("DHG_ASR_") and "value" in item:
            monkeypatch.setenv(item["name"], item["value"])
    from asr.settings import Settings as AsrSettings

    served = AsrSettings()
    assert (served.realtime_sessions, served.realtime_max_session_seconds, served.realtime_idle_seconds) == (
        4,
        600.0,
        120.0,
    )


def test_a_default_model_that_is_not_served_is_refused():
    with pytest.raises(AssertionError, match=r'asr.defaultModel "large-v3" is not one of asr.models \(base, tiny.en\)'):
        render("asr.defaultModel=large-v3")
