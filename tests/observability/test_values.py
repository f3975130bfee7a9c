"""Our values for the upstream charts (charts/observability/) against those charts at the pinned versions
(tests/fixtures/charts/, see its PROVENANCE.md): a misspelt or misplaced key fails here, not on a cluster."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
VALUES = ROOT / "charts" / "observability"
FIXTURES = ROOT / "tests" / "fixtures" / "charts"
# Loki's own configuration blocks, which the chart passes to Loki as they are (Loki validates them at start-up).
LOKI_CONFIG_BLOCKS = {("loki", "limits_config"), ("loki", "compactor"), ("loki", "ingester"), ("loki", "querier")}


def pins() -> dict[str, str]:
    lines = (VALUES / "versions.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line[:1].isalpha())


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def fixture(chart: str, name: str) -> Path:
    return FIXTURES / f"{chart}-{pins()[chart.upper().replace('-', '_') + '_VERSION']}" / name


def merged(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    result = dict(base)
    for key, value in over.items():
        both = isinstance(value, dict) and isinstance(result.get(key), dict)
        result[key] = merged(result[key], value) if both else value
    return result


def unknown_keys(ours: Any, upstream: Any, path: tuple[str, ...] = ()) -> Iterator[str]:
    """Keys of ours that the upstream values do not have. Below an upstream `{}`, null or list anything goes
    (free-form maps such as resources)."""
    if not isinstance(ours, dict) or not isinstance(upstream, dict) or not upstream:
        return
    for key, value in ours.items():
        if key not in upstream:
            yield ".".join((*path, key))
        else:
            yield from unknown_keys(value, upstream[key], (*path, key))


def unknown_to_schema(ours: Any, schema: dict[str, Any], path: tuple[str, ...] = ()) -> Iterator[str]:
    """Keys of ours that an object of the schema with listed properties does not list."""
    if not isinstance(ours, dict) or path in LOKI_CONFIG_BLOCKS:
        return
    properties = schema.get("properties")
    if not properties:
        return
    for key, value in ours.items():
        if key not in properties:
            yield ".".join((*path, key))
        else:
            yield from unknown_to_schema(value, properties[key], (*path, key))


def test_the_fixtures_are_the_pinned_versions_byte_for_byte() -> None:
    provenance = (FIXTURES / "PROVENANCE.md").read_text()
    files = sorted(path for path in FIXTURES.rglob("*") if path.is_file() and path.name != "PROVENANCE.md")
    assert {path.parent.name for path in files} == {
        f"{chart}-{pins()[chart.upper().replace('-', '_') + '_VERSION']}"
        for chart in ("loki", "alloy", "kube-prometheus-stack")
    } | {"grafana-12.11.1"}
    for path in files:
        assert hashlib.sha256(path.read_bytes()).hexdigest() in provenance, f"{path} changed: update PROVENANCE.md"


def test_loki_values_validate_against_the_chart_schema() -> None:
    schema = load(fixture("loki", "values.schema.json"))
    jsonschema.validate(load(VALUES / "loki-values.yaml"), schema)


def test_loki_values_use_only_keys_the_chart_has() -> None:
    schema = load(fixture("loki", "values.schema.json"))
    assert list(unknown_to_schema(load(VALUES / "loki-values.yaml"), schema)) == []


def test_loki_is_one_monolithic_pod_on_a_filesystem_without_minio() -> None:
    values = load(VALUES / "loki-values.yaml")
    assert values["deploymentMode"] == "Monolithic"
    assert values["singleBinary"]["replicas"] == 1
    assert values["loki"]["storage"]["type"] == "filesystem"
    assert values["loki"]["schemaConfig"]["configs"][-1]["object_store"] == "filesystem"
    assert values["minio"]["enabled"] is False
    assert all(values[target]["replicas"] == 0 for target in ("backend", "read", "write"))
    assert values["loki"]["limits_config"]["allow_structured_metadata"] is True
    assert values["chunksCache"]["allocatedMemory"] <= 1024  # MB; the chart's default is 8 GiB


def test_alloy_values_use_only_keys_the_chart_has() -> None:
    upstream = load(fixture("alloy", "values.yaml"))
    assert list(unknown_keys(load(VALUES / "alloy-values.yaml"), upstream)) == []


def kube_prometheus_stack_upstream() -> dict[str, Any]:
    upstream: dict[str, Any] = load(fixture("kube-prometheus-stack", "values.yaml"))
    # Our `grafana:` values go to the Grafana subchart, whose defaults the stack's own grafana block overrides.
    upstream["grafana"] = merged(load(FIXTURES / "grafana-12.11.1" / "values.yaml"), upstream["grafana"])
    return upstream


def test_kube_prometheus_stack_values_use_only_keys_the_charts_have() -> None:
    values = load(VALUES / "kube-prometheus-stack-values.yaml")
    assert list(unknown_keys(values, kube_prometheus_stack_upstream())) == []


def test_grafana_finds_the_factory_dashboards_and_both_datasources() -> None:
    grafana = load(VALUES / "kube-prometheus-stack-values.yaml")["grafana"]
    factory = load(ROOT / "charts" / "dhg-factory" / "values.yaml")["monitoring"]
    dashboards = grafana["sidecar"]["dashboards"]
    assert {dashboards["label"]: dashboards["labelValue"]} == factory["dashboards"]["labels"]
    assert dashboards["searchNamespace"] == "ALL"
    assert dashboards["folderAnnotation"] == "grafana_folder"
    assert dashboards["provider"]["foldersFromFilesStructure"] is True
    assert grafana["sidecar"]["datasources"]["uid"] == "prometheus"
    [loki] = grafana["additionalDataSources"]
    assert (loki["type"], loki["uid"]) == ("loki", "loki")
    assert loki["url"] == f"http://{pins()['LOKI_RELEASE']}.{pins()['MONITORING_NAMESPACE']}.svc.cluster.local:3100"


def test_prometheus_keeps_selecting_by_the_release_label_the_factory_carries() -> None:
    spec = load(VALUES / "kube-prometheus-stack-values.yaml")["prometheus"]["prometheusSpec"]
    for selector in ("serviceMonitor", "podMonitor", "rule"):
        assert f"{selector}SelectorNilUsesHelmValues" not in spec  # the default (true): select on `release`
    factory = load(ROOT / "charts" / "dhg-factory" / "values.yaml")
    assert factory["monitoring"]["labels"]["release"] == pins()["KUBE_PROMETHEUS_STACK_RELEASE"]
    keda_address = factory["autoscaling"]["keda"]["serverAddress"]
    assert keda_address.startswith(f"http://{pins()['KUBE_PROMETHEUS_STACK_RELEASE']}-prometheus.")


@pytest.mark.parametrize("name", ["alloy-values.yaml", "kube-prometheus-stack-values.yaml", "loki-values.yaml"])
def test_the_key_check_catches_a_misspelt_key(name: str) -> None:
    """The check itself can fail: one misspelt key at the top of each file."""
    values = load(VALUES / name)
    key = next(iter(values))
    values[key + "s"] = values.pop(key)
    if name == "loki-values.yaml":
        assert list(unknown_to_schema(values, load(fixture("loki", "values.schema.json")))) == [key + "s"]
    else:
        alloy = name.startswith("alloy")
        upstream = load(fixture("alloy", "values.yaml")) if alloy else kube_prometheus_stack_upstream()
        assert list(unknown_keys(values, upstream)) == [key + "s"]
