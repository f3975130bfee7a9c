"""Every scenario of the chart (ci/*-values.yaml) lints strictly and renders, for the oldest and the newest
Kubernetes release the manifests are validated against."""

from __future__ import annotations

import kubernetes_validate

from tests.charts.helm import CHART, CI, KUBE_VERSION, helm, render_scenario

# The scenarios the chart is tested in (charts/dhg-factory/ci/<name>-values.yaml).
EXPECTED_SCENARIOS = {
    "defaults",
    "gpu-serving",
    "external-database",
    "httproute",  # ingress off, an HTTPRoute on
    "keda",
    "namespaced",  # controller.watchNamespaces set
    "monitoring-off",
}
NEWEST = kubernetes_validate.latest_version()


def test_the_chart_has_its_ci_scenarios():
    found = {p.name.removesuffix("-values.yaml") for p in CI.glob("*-values.yaml")}
    assert found, f"no {CI.relative_to(CHART.parent)}/*-values.yaml: the checks ran on the plain defaults only"
    assert found >= EXPECTED_SCENARIOS, f"missing scenarios: {sorted(EXPECTED_SCENARIOS - found)}"


def test_the_scenario_lints_strictly(scenario):
    helm("lint", "--strict", str(CHART), "--kube-version", KUBE_VERSION, *scenario.flags())


def test_the_scenario_renders_each_object_once(scenario):
    for version in (KUBE_VERSION, NEWEST):
        documents = render_scenario(scenario, kube_version=version)
        keys = [(d["apiVersion"], d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"]) for d in documents]
        assert len(keys) == len(set(keys)), f"objects rendered twice: {sorted(k for k in keys if keys.count(k) > 1)}"
        assert any(d["kind"] == "Deployment" for d in documents)
