"""A maintained policy scanner (checkov) on every scenario, with its exceptions listed and explained in
checkov-exceptions.yaml; and the wiring of monitoring and autoscaling: ServiceMonitors reach a Service port,
Services reach pods, one autoscaler per workload."""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.charts import wiring
from tests.charts.helm import render_scenario, scenario_values

EXCEPTIONS_FILE = Path(__file__).with_name("checkov-exceptions.yaml")


def exceptions() -> list[dict[str, Any]]:
    return yaml.safe_load(EXCEPTIONS_FILE.read_text()) or []


def excused(check: dict[str, Any], listed: list[dict[str, Any]]) -> bool:
    resource = check["resource"]
    return any(
        entry["check"] == check["check_id"] and any(fnmatch.fnmatchcase(resource, p) for p in entry["resources"])
        for entry in listed
    )


def test_checkov_finds_nothing_but_the_listed_exceptions(scenario, checkov_failures):
    found = checkov_failures[scenario.name]
    if isinstance(found, str):
        pytest.fail(found)
    listed = exceptions()
    failed = [
        f"{check['check_id']} {check['check_name']}: {check['resource']} ({Path(check['file_path']).name})"
        for check in found
        if not excused(check, listed)
    ]
    assert not failed, f"fix them, or list them with a reason in {EXCEPTIONS_FILE.name}:\n" + "\n".join(failed)


def test_every_checkov_exception_is_explained_and_still_needed(checkov_failures):
    listed = exceptions()
    for entry in listed:
        assert set(entry) == {"check", "title", "resources", "reason"}, entry
        assert entry["resources"] and len(entry["reason"]) > 40, entry
    not_scanned = sorted(name for name, found in checkov_failures.items() if isinstance(found, str))
    if not_scanned:
        pytest.fail(f"cannot tell which exceptions are still needed: not scanned: {not_scanned}")
    failed = [check for found in checkov_failures.values() for check in found]
    unused = [entry["check"] for entry in listed if not any(excused(check, [entry]) for check in failed)]
    assert unused == [], "no longer needed: remove them"


def test_the_exception_matcher_excuses_only_what_it_lists():
    entry = {"check": "CKV_K8S_43", "resources": ["Deployment.dhg.*"]}
    assert excused({"check_id": "CKV_K8S_43", "resource": "Deployment.dhg.dhg-registry"}, [entry])
    assert not excused({"check_id": "CKV_K8S_43", "resource": "StatefulSet.dhg.dhg-postgresql"}, [entry])
    assert not excused({"check_id": "CKV_K8S_8", "resource": "Deployment.dhg.dhg-registry"}, [entry])


def test_every_service_reaches_a_pod_port(scenario):
    assert wiring.service_violations(render_scenario(scenario)) == []


def test_every_service_monitor_reaches_a_service_port(scenario):
    documents = render_scenario(scenario)
    monitors = [d for d in documents if d["kind"] == "ServiceMonitor"]
    if scenario_values(scenario)["monitoring"]["serviceMonitors"]["enabled"]:
        assert monitors, "monitoring.serviceMonitors.enabled renders ServiceMonitors"
    else:
        assert not monitors
    assert wiring.monitor_violations(documents) == []


def test_one_autoscaler_per_workload(scenario):
    documents = render_scenario(scenario)
    assert wiring.autoscaler_violations(documents) == []
    if scenario_values(scenario)["autoscaling"]["keda"]["enabled"]:
        assert [d for d in documents if d["kind"] == "ScaledObject"], "autoscaling.keda.enabled renders a ScaledObject"


# The wiring checks on small hand-made manifests: each catches what it is for.

POD = {
    "metadata": {"labels": {"app": "registry"}},
    "spec": {"containers": [{"name": "c", "ports": [{"name": "http"}]}]},
}
DEPLOYMENT = {"kind": "Deployment", "metadata": {"name": "registry"}, "spec": {"template": POD}}


def service(selector, target="http", labels=None):
    return {
        "kind": "Service",
        "metadata": {"name": "registry", "labels": labels or {"app": "registry"}},
        "spec": {"selector": selector, "ports": [{"name": "http", "port": 80, "targetPort": target}]},
    }


def test_the_service_check_catches_a_wrong_selector_or_port():
    assert wiring.service_violations([DEPLOYMENT, service({"app": "registry"})]) == []
    assert wiring.service_violations([DEPLOYMENT, service({"app": "asr"})])
    assert wiring.service_violations([DEPLOYMENT, service({"app": "registry"}, target="metrics")])


def test_the_monitor_check_catches_a_wrong_selector_or_port():
    def monitor(labels, port):
        spec = {"selector": {"matchLabels": labels}, "endpoints": [{"port": port}]}
        return {"kind": "ServiceMonitor", "metadata": {"name": "m"}, "spec": spec}

    documents = [DEPLOYMENT, service({"app": "registry"})]
    assert wiring.monitor_violations([*documents, monitor({"app": "registry"}, "http")]) == []
    assert wiring.monitor_violations([*documents, monitor({"app": "asr"}, "http")])
    assert wiring.monitor_violations([*documents, monitor({"app": "registry"}, "metrics")])


def test_the_autoscaler_check_catches_an_hpa_beside_a_scaled_object():
    hpa = {
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "registry"},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "registry"}},
    }
    scaled = {"kind": "ScaledObject", "metadata": {"name": "so"}, "spec": {"scaleTargetRef": {"name": "registry"}}}
    assert wiring.autoscaler_violations([DEPLOYMENT, hpa]) == []
    assert wiring.autoscaler_violations([DEPLOYMENT, scaled]) == []
    assert wiring.autoscaler_violations([DEPLOYMENT, hpa, scaled])
    assert wiring.autoscaler_violations([hpa])  # its target is not rendered


def test_every_deployment_that_may_run_several_replicas_has_a_disruption_budget(scenario):
    assert wiring.disruption_budget_violations(render_scenario(scenario)) == []


def test_the_disruption_budget_check_catches_a_missing_budget():
    scaled = {**DEPLOYMENT, "spec": {**DEPLOYMENT["spec"], "replicas": 2}}
    budget = {
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "b"},
        "spec": {"selector": {"matchLabels": POD["metadata"]["labels"]}},
    }
    assert wiring.disruption_budget_violations([DEPLOYMENT]) == []
    assert wiring.disruption_budget_violations([scaled, budget]) == []
    assert wiring.disruption_budget_violations([scaled])
    hpa = {
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "h"},
        "spec": {"scaleTargetRef": {"name": "registry"}, "maxReplicas": 4},
    }
    assert wiring.disruption_budget_violations([DEPLOYMENT, hpa])
