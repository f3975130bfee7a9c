"""Rendered objects against Kubernetes' schemas (1.33 and the newest the validator ships) and custom resources
against their CRDs, strictly; the values against values.schema.json, which declares every key and refuses others."""

from __future__ import annotations

import copy
import hashlib
import json
import re
import subprocess
import sys

import pytest

from tests.charts import schemas
from tests.charts.checks import label_of
from tests.charts.helm import CHART, KUBE_VERSION, load_values, render_scenario, scenario_values
from tests.charts.test_render_matrix import NEWEST
from tests.charts.values_schema import loose_objects, undeclared_keys

VALUES_SCHEMA = CHART / "values.schema.json"

# One small valid object of each custom kind the chart may render: each must pass, and fail with an unknown field.
CUSTOM_EXAMPLES = {
    "ServiceMonitor": {
        "apiVersion": "monitoring.coreos.com/v1",
        "spec": {"selector": {"matchLabels": {"a": "b"}}, "endpoints": [{"port": "metrics", "interval": "30s"}]},
    },
    "PrometheusRule": {
        "apiVersion": "monitoring.coreos.com/v1",
        "spec": {"groups": [{"name": "dhg", "rules": [{"alert": "Down", "expr": "up == 0", "for": "5m"}]}]},
    },
    "ScaledObject": {
        "apiVersion": "keda.sh/v1alpha1",
        "spec": {
            "scaleTargetRef": {"name": "asr"},
            "triggers": [{"type": "prometheus", "metadata": {"serverAddress": "http://p:9090", "query": "q"}}],
        },
    },
    "HTTPRoute": {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "spec": {"parentRefs": [{"name": "gateway"}], "rules": [{"backendRefs": [{"name": "asr", "port": 8001}]}]},
    },
    "TranscriptionJob": {"apiVersion": "factory.dhg.ai/v1alpha1", "spec": {"source": {"path": "/data/a.wav"}}},
    "ClusterKopfPeering": {"apiVersion": "kopf.dev/v1"},
    "KopfPeering": {"apiVersion": "kopf.dev/v1"},
}


@pytest.mark.parametrize("version", [KUBE_VERSION, NEWEST])
def test_every_rendered_object_is_valid(scenario, version):
    documents = render_scenario(scenario, kube_version=version)
    found = {label_of(d): schemas.errors_of(d, version) for d in documents}
    assert not {k: v for k, v in found.items() if v}


@pytest.mark.parametrize("kind", sorted(CUSTOM_EXAMPLES))
def test_a_custom_resource_is_checked_against_its_crd_and_refuses_unknown_fields(kind):
    example = {"kind": kind, "metadata": {"name": "example", "namespace": "dhg"}} | CUSTOM_EXAMPLES[kind]
    assert schemas.errors_of(example, KUBE_VERSION) == []
    unknown = copy.deepcopy(example)
    unknown.get("spec", unknown)["unknownField"] = 1  # the kinds without a spec: at their root
    assert any("unknownField" in e for e in schemas.errors_of(unknown, KUBE_VERSION))
    bad_metadata = example | {"metadata": {"name": "example", "label": {}}}
    assert any("label" in e for e in schemas.errors_of(bad_metadata, KUBE_VERSION))


def test_crd_validation_rules_are_evaluated():
    route = {"kind": "HTTPRoute", "metadata": {"name": "r"}} | copy.deepcopy(CUSTOM_EXAMPLES["HTTPRoute"])
    del route["spec"]["rules"][0]["backendRefs"][0]["port"]
    assert any("Must have port for Service reference" in e for e in schemas.errors_of(route, KUBE_VERSION))


def test_an_unknown_custom_kind_or_builtin_field_is_refused():
    assert schemas.errors_of({"apiVersion": "example.com/v1", "kind": "Widget"}, KUBE_VERSION)
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": {"portz": []}}
    assert any("portz" in e for e in schemas.errors_of(service, NEWEST))


def test_the_upstream_crds_are_the_ones_provenance_names():
    provenance = (schemas.UPSTREAM_CRDS / "PROVENANCE.md").read_text()
    recorded = dict(re.findall(r"`([\w.-]+\.yaml)`.*?sha256 `([0-9a-f]{64})`", provenance))
    files = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in schemas.UPSTREAM_CRDS.glob("*.yaml")}
    assert files == recorded


def check_jsonschema(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", *args], capture_output=True, text=True, timeout=120
    )


def test_the_values_schema_is_a_valid_json_schema():
    result = check_jsonschema("--check-metaschema", str(VALUES_SCHEMA))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_values_schema_accepts_the_scenarios_values(scenario, tmp_path):
    """check-jsonschema on what helm validates: the scenario's file coalesced over values.yaml."""
    merged = tmp_path / f"{scenario.name}.json"
    merged.write_text(json.dumps(scenario_values(scenario)))
    result = check_jsonschema("--schemafile", str(VALUES_SCHEMA), str(CHART / "values.yaml"), str(merged))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_values_schema_refuses_an_unknown_key(tmp_path):
    values = tmp_path / "values.json"
    values.write_text(json.dumps(load_values(CHART / "values.yaml") | {"notAValue": True}))
    result = check_jsonschema("--schemafile", str(VALUES_SCHEMA), str(values))
    assert result.returncode == 1 and "notAValue" in result.stdout, result.stdout + result.stderr


def values_schema() -> dict:
    return json.loads(VALUES_SCHEMA.read_text())


def test_every_value_key_is_in_the_schema(scenario):
    for path in [CHART / "values.yaml", *([scenario.values_file] if scenario.values_file else [])]:
        assert undeclared_keys(load_values(path), values_schema()) == [], path.name


def test_every_object_in_the_values_schema_refuses_unknown_keys():
    assert loose_objects(values_schema()) == []


def test_the_values_checks_find_an_undeclared_key_and_an_open_object():
    schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "registry": {"type": "object", "properties": {"port": {"type": "integer"}}},
            "asr": {
                "type": "object",
                "additionalProperties": False,
                "properties": {"nodeSelector": {"type": "object"}},
            },
        },
    }
    values = {"registry": {"port": 1, "prot": 2}, "asr": {"nodeSelector": {"any": "key"}, "replicas": 1}}
    assert undeclared_keys(values, schema) == ["registry.prot", "asr.replicas"]
    assert loose_objects(schema) == ["registry"]
