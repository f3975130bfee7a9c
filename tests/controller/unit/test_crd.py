"""The CRD is generated from the Pydantic model and says what it says: same defaults, same refusals."""

import copy

import pytest
import yaml
from pydantic import ValidationError

from controller import crd
from controller.model import TranscriptionJob
from tests.controller.schema import CRD_PATH, EXAMPLES, apply_defaults, crd_schema, server_errors

MINIMAL = {"apiVersion": "factory.dhg.ai/v1alpha1", "kind": "TranscriptionJob", "metadata": {"name": "j"}}


def job(**spec):
    return {**MINIMAL, "spec": spec}


def test_crd_matches_the_model():
    assert CRD_PATH.read_text() == crd.render(), "regenerate: python -m controller.crd > crds/transcriptionjob.yaml"


def test_crd_names_status_subresource_and_printer_columns():
    document = yaml.safe_load(CRD_PATH.read_text())
    names, version = document["spec"]["names"], document["spec"]["versions"][0]
    assert (document["spec"]["group"], version["name"], names["shortNames"], names["categories"]) == (
        "factory.dhg.ai",
        "v1alpha1",
        ["tj"],
        ["dhg"],
    )
    assert version["subresources"] == {"status": {}}
    columns = {c["name"]: c["jsonPath"] for c in version["additionalPrinterColumns"]}
    assert columns["Phase"] == ".status.phase" and columns["Device"] == ".status.device"
    assert columns["RTF"] == ".status.realTimeFactor" and columns["Age"] == ".metadata.creationTimestamp"


def _structural(node, path="$"):
    """Every node has a type and no anyOf/$ref/additionalProperties beside properties (API server rules)."""
    assert "type" in node, path
    assert not {"$ref", "anyOf", "title"} & set(node), path
    assert not ("properties" in node and "additionalProperties" in node), path
    for name, child in node.get("properties", {}).items():
        _structural(child, f"{path}.{name}")
    if isinstance(node.get("additionalProperties"), dict):
        _structural(node["additionalProperties"], f"{path}[*]")
    if "items" in node:
        _structural(node["items"], f"{path}[]")


def test_the_schema_is_structural():
    _structural(crd_schema())


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_is_accepted_by_the_model_and_the_crd(path):
    document = yaml.safe_load(path.read_text())
    TranscriptionJob.model_validate(document)
    assert server_errors(document) == []


def test_the_crd_defaults_are_the_model_defaults():
    document = job(source={"url": "https://example.org/a.wav"})
    defaulted = apply_defaults(crd_schema(), document)["spec"]
    model = TranscriptionJob.model_validate(document).spec.model_dump(by_alias=True, exclude_none=True, mode="json")
    assert defaulted == model
    assert defaulted["fallback"] == {"afterSeconds": 120} and defaulted["device"] == "auto"


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ({"source": {}}, "exactly one"),
        ({"source": {"url": "https://a.org/x.wav", "path": "/data/x.wav"}}, "exactly one"),
        ({"source": {"url": "ftp://a.org/x.wav"}}, "https?"),
        ({"source": {"path": "relative/x.wav"}}, "'^/'"),
        ({"source": {"assetId": "a"}, "device": "tpu"}, "'tpu'"),
        ({"source": {"path": "/x"}, "maxRetries": 11}, "11"),
        ({"source": {"path": "/x"}, "language": "English"}, "English"),
        ({"source": {"path": "/x"}, "outputFormats": []}, "[]"),
        ({"source": {"path": "/x"}, "resources": {"limits": {"memory": "lots"}}}, "lots"),
        ({"source": {"path": "/x"}, "diarization": {"enabled": True, "minSpeakers": 3, "maxSpeakers": 2}}, "above"),
        ({"source": {"path": "/x"}, "diarization": {"maxSpeakers": 21}}, "21"),
    ],
)
def test_bad_specs_are_refused_by_both(spec, needle):
    document = job(**spec)
    errors = server_errors(document)
    assert errors and any(needle in e for e in errors), errors
    with pytest.raises(ValidationError):
        TranscriptionJob.model_validate(document)


def test_the_spec_is_immutable_but_the_status_is_not():
    before = job(source={"path": "/data/a.wav"})
    after = copy.deepcopy(before)
    after["spec"]["device"] = "cpu"
    assert any("immutable" in e for e in server_errors(after, old=before))
    with_status = {**before, "status": {"phase": "Running", "attempts": 1}}
    assert server_errors(with_status, old=before) == []


def test_unknown_fields_are_refused_by_the_model():
    with pytest.raises(ValidationError):
        TranscriptionJob.model_validate(job(source={"path": "/a"}, gpus=2))
