"""`dhg apply`, `dhg get tj`, `dhg describe tj` and `dhg delete tj` against a running `dhg up`: the objects kept
in its PostgreSQL as the API server keeps them (uid, defaults, an immutable spec), kubectl's wording and columns,
and nothing half-applied from a file with a refused document."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from controller.crd import PRINTER_COLUMNS
from tests.controller.schema import EXAMPLES
from tests.dhg.integration.conftest import ServingStack
from tests.dhg.runner import assert_one_line_error, run_dhg

EXAMPLE_NAMES = sorted(yaml.safe_load(path.read_text())["metadata"]["name"] for path in EXAMPLES)


def dhg(stack: ServingStack, *args: str | Path):
    return run_dhg(*args, "--data-dir", stack.data_dir.root)


def names(stack: ServingStack) -> list[str]:
    listed = json.loads(dhg(stack, "get", "tj", "-o", "json").stdout)
    return sorted(item["metadata"]["name"] for item in listed["items"])


def manifest(name: str, **spec: object) -> dict[str, object]:
    spec.setdefault("source", {"url": f"https://media.example.org/{name}.opus"})
    return {
        "apiVersion": "factory.dhg.ai/v1alpha1",
        "kind": "TranscriptionJob",
        "metadata": {"name": name},
        "spec": spec,
    }


def test_apply_creates_each_example_once_and_reapplying_is_unchanged(serving_stack: ServingStack) -> None:
    examples = EXAMPLES[0].parent
    created = dhg(serving_stack, "apply", "-f", examples)
    assert created.returncode == 0, created.stderr
    assert sorted(line.split()[0].split("/")[1] for line in created.stdout.splitlines()) == EXAMPLE_NAMES
    assert all(line.endswith(" created") for line in created.stdout.splitlines())
    again = dhg(serving_stack, "apply", "-f", examples)
    assert again.returncode == 0 and all(line.endswith(" unchanged") for line in again.stdout.splitlines())
    assert names(serving_stack) == EXAMPLE_NAMES
    stored = json.loads(dhg(serving_stack, "get", "tj", "podcast-episode-cpu", "-o", "json").stdout)
    assert len(stored["metadata"]["uid"]) == 36 and stored["spec"]["maxRetries"] == 2  # the CRD's default
    for name in EXAMPLE_NAMES:
        assert dhg(serving_stack, "delete", "tj", name).returncode == 0


def test_a_changed_spec_is_refused_and_nothing_of_its_file_is_applied(serving_stack: ServingStack, tmp_path: Path):
    first = tmp_path / "first.yaml"
    first.write_text(yaml.safe_dump(manifest("talk", device="cpu")))
    assert dhg(serving_stack, "apply", "-f", first).returncode == 0
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump_all([manifest("fresh"), manifest("talk", device="gpu")]))
    refused = dhg(serving_stack, "apply", "-f", changed)
    problem = 'The TranscriptionJob "talk" is invalid: spec: Invalid value: "object": spec is immutable'
    assert_one_line_error(refused, problem, "nothing was applied")
    assert names(serving_stack) == ["talk"]
    partly = dhg(serving_stack, "apply", "-f", changed, "--continue-on-error")
    assert partly.returncode == 1 and "transcriptionjob.factory.dhg.ai/fresh created" in partly.stdout
    assert names(serving_stack) == ["fresh", "talk"]
    stored = json.loads(dhg(serving_stack, "get", "tj", "talk", "-o", "json").stdout)
    assert stored["spec"]["device"] == "cpu"
    assert dhg(serving_stack, "delete", "tj", "talk", "fresh").returncode == 0
    assert names(serving_stack) == []


def test_one_invalid_document_applies_nothing(serving_stack: ServingStack, tmp_path: Path) -> None:
    both = tmp_path / "both.yaml"
    bad = manifest("bad", source={"url": "https://a.org/x.opus", "path": "/data/x.opus"})
    both.write_text(yaml.safe_dump_all([manifest("good"), bad]))
    result = dhg(serving_stack, "apply", "-f", both)
    problem = 'The TranscriptionJob "bad" is invalid: spec.source: Invalid value: "object": source needs exactly one'
    assert_one_line_error(result, f"{both} (document 2)", problem, "nothing was applied")
    assert names(serving_stack) == []
    unknown = dhg(serving_stack, "apply", "-f", tmp_path / "nowhere.yaml")
    assert_one_line_error(unknown, "does not exist")


def test_get_prints_the_crds_printer_columns_and_describe_the_object(serving_stack: ServingStack, tmp_path: Path):
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(manifest("columns", device="cpu")))
    assert dhg(serving_stack, "apply", "-f", path).returncode == 0
    table = dhg(serving_stack, "get", "tj").stdout.splitlines()
    plain = ["NAME", *(c["name"].upper() for c in PRINTER_COLUMNS if not c.get("priority"))]
    assert table[0].split() == plain and table[1].split()[0] == "columns"
    wide = dhg(serving_stack, "get", "transcriptionjobs", "-o", "wide").stdout.splitlines()
    assert wide[0].split() == ["NAME", *(c["name"].upper() for c in PRINTER_COLUMNS)]
    described = dhg(serving_stack, "describe", "tj", "columns").stdout
    assert "Name:         columns" in described and "device: cpu" in described and "\nEvents:" in described
    assert_one_line_error(
        dhg(serving_stack, "get", "tj", "missing"), 'transcriptionjobs.factory.dhg.ai "missing" not found'
    )
    assert_one_line_error(dhg(serving_stack, "get", "pods"), 'resource type "pods"')
    assert dhg(serving_stack, "delete", "tj", "columns").returncode == 0
    assert_one_line_error(dhg(serving_stack, "delete", "tj", "columns"), "not found")
    assert dhg(serving_stack, "get", "tj").stdout.strip() == "No resources found in default namespace."
