"""`dhg apply`'s reading and validation of manifests: what kubectl reads, what the API server refuses (the same
model, the CRD's CEL rules with their messages), and errors worded as kubectl words them."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from controller import crd
from dhg.jobs.manifests import Document, ManifestError, read_documents, spec_of, validate
from tests.controller.schema import EXAMPLES, apply_defaults, cel_failures, crd_schema

GOOD = {
    "apiVersion": "factory.dhg.ai/v1alpha1",
    "kind": "TranscriptionJob",
    "metadata": {"name": "talk"},
    "spec": {"source": {"url": "https://media.example.org/talk.opus"}, "device": "cpu"},
}


def refusal(body: object, namespace: str | None = None) -> str:
    with pytest.raises(ManifestError) as raised:
        validate(Document("job.yaml", body), namespace)
    return str(raised.value)


def with_spec(**spec: object) -> dict[str, object]:
    return {**GOOD, "spec": spec}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_validates_with_the_crds_defaults(path: Path) -> None:
    (document,) = read_documents([str(path)])
    manifest = validate(document)
    assert manifest.key == ("default", yaml.safe_load(path.read_text())["metadata"]["name"])
    # The spec stored is the spec the API server stores: the CRD's defaults applied.
    assert spec_of(manifest.job) == apply_defaults(crd_schema(), document.body)["spec"]


def test_a_directory_and_multi_document_files_are_read_as_kubectl_reads_them(tmp_path: Path) -> None:
    (tmp_path / "b.yaml").write_text(
        yaml.safe_dump(GOOD) + "---\n" + yaml.safe_dump({**GOOD, "metadata": {"name": "x"}})
    )
    (tmp_path / "a.json").write_text('{"apiVersion": "v1"}')
    (tmp_path / "notes.txt").write_text("not a manifest")
    documents = read_documents([str(tmp_path)])
    assert [d.origin for d in documents] == [
        f"{tmp_path / 'a.json'}",
        f"{tmp_path / 'b.yaml'} (document 1)",
        f"{tmp_path / 'b.yaml'} (document 2)",
    ]
    with pytest.raises(ManifestError, match="not valid YAML"):
        (tmp_path / "c.yaml").write_text("spec: [unclosed")
        read_documents([str(tmp_path / "c.yaml")])
    with pytest.raises(ManifestError, match="does not exist"):
        read_documents([str(tmp_path / "missing.yaml")])


CEL_CASES = [  # each violates the CRD's "exactly one source" rule
    {"url": "https://a.org/x.wav", "path": "/data/x.wav"},
    {"url": "https://a.org/x.wav", "assetId": "9b2e4d6f-1a3c-4e5f-8a7b-6c5d4e3f2a1b"},
    {},
]


@pytest.mark.parametrize("source", CEL_CASES)
def test_the_crds_source_rule_refuses_what_the_api_server_refuses_with_its_message(source: dict[str, str]) -> None:
    document = with_spec(source=source)
    (rule,) = crd.RULES["spec.source"]
    assert any(rule["message"] in failure for failure in cel_failures(crd_schema(), document, None))
    assert refusal(document) == (
        f'job.yaml: The TranscriptionJob "talk" is invalid: spec.source: Invalid value: "object": {rule["message"]}'
    )


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (with_spec(source={"url": "https://a.org/x"}, gpus=2), 'unknown field "spec.gpus"'),
        (with_spec(source={"url": "https://a.org/x"}, maxRetries=11), "spec.maxRetries: Invalid value: 11:"),
        (with_spec(source={"path": "relative.wav"}), 'spec.source.path: Invalid value: "relative.wav"'),
        (with_spec(source={"url": "ftp://a.org/x"}), 'spec.source.url: Invalid value: "ftp://a.org/x"'),
        (with_spec(device="tpu", source={"path": "/x"}), 'spec.device: Invalid value: "tpu"'),
        (with_spec(), "spec.source: Required value"),
        ({**GOOD, "kind": "Pod"}, 'no matches for kind "Pod" in version "factory.dhg.ai/v1alpha1"'),
        ({**GOOD, "apiVersion": "factory.dhg.ai/v1"}, 'no matches for kind "TranscriptionJob" in version'),
        ({**GOOD, "metadata": {}}, "metadata.name: Required value"),
        ({**GOOD, "metadata": {"name": "Talk_1"}}, 'metadata.name: Invalid value: "Talk_1"'),
        (["a", "list"], "a manifest is a mapping"),
        ({"spec": {}}, "apiVersion not set"),
    ],
)
def test_bad_manifests_get_kubectl_like_errors_with_the_field_path(body: object, expected: str) -> None:
    assert expected in refusal(body)


def test_every_problem_of_a_document_is_named_at_once() -> None:
    message = refusal(with_spec(source={"url": "https://a.org/x"}, maxRetries=11, gpus=1))
    assert "spec.maxRetries" in message and 'unknown field "spec.gpus"' in message


def test_namespaces_default_and_must_agree_with_the_flag() -> None:
    body = copy.deepcopy(GOOD)
    assert validate(Document("job.yaml", body)).key == ("default", "talk")
    assert validate(Document("job.yaml", body), "media").key == ("media", "talk")
    body["metadata"]["namespace"] = "research"
    assert "does not match the namespace" in refusal(body, "media")


def test_status_in_a_manifest_is_ignored_as_the_status_subresource_ignores_it() -> None:
    body = {**GOOD, "status": {"phase": "Succeeded"}}
    assert validate(Document("job.yaml", body)).job.status is None
