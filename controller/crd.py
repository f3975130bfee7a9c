"""Generate the TranscriptionJob CustomResourceDefinition from the Pydantic models.

`make crd` (`python -m controller.crd crds/transcriptionjob.yaml charts/dhg-factory/crds/transcriptionjob.yaml`;
tests fail when either file and the models drift). Pydantic's JSON Schema becomes a *structural* schema, as the
API server requires: `$ref`s inlined, optional fields as plain properties (no `anyOf` with null), no titles, a
`default: {}` where nested defaults must apply, and CEL rules for what a schema cannot say.
"""

from __future__ import annotations

import copy
import sys
from typing import Any

import yaml

from controller.model import (
    CATEGORIES,
    GROUP,
    KIND,
    PLURAL,
    SHORT_NAMES,
    SINGULAR,
    VERSION,
    TranscriptionJobSpec,
    TranscriptionJobStatus,
)
from dhg_core import speakers

EXACTLY_ONE_SOURCE = "[has(self.url), has(self.assetId), has(self.path)].filter(x, x).size() == 1"
RULES: dict[str, list[dict[str, str]]] = {  # JSON path of the object in the spec → its CEL rules
    "spec": [
        {
            "rule": "self == oldSelf",
            "message": "spec is immutable: a TranscriptionJob is one unit of work; delete it and create another",
        }
    ],
    "spec.source": [{"rule": EXACTLY_ONE_SOURCE, "message": "source needs exactly one of url, assetId, path"}],
    "spec.diarization": [
        {
            "rule": speakers.ordered_rule("minSpeakers", "maxSpeakers"),
            "message": "diarization." + speakers.disorder("minSpeakers", "maxSpeakers"),
        }
    ],
}
PRINTER_COLUMNS: list[dict[str, Any]] = [
    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
    {"name": "Device", "type": "string", "jsonPath": ".status.device"},
    {"name": "RTF", "type": "number", "jsonPath": ".status.realTimeFactor", "description": "Audio s per wall s."},
    {"name": "Attempts", "type": "integer", "jsonPath": ".status.attempts", "priority": 1},
    {"name": "Node", "type": "string", "jsonPath": ".status.nodeName", "priority": 1},
    {"name": "Message", "type": "string", "jsonPath": ".status.message", "priority": 1},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]
_DROPPED = ("title", "$defs")


def _without_nulls(value: Any) -> Any:
    """A default object without its unset (null) fields: the API server would store them as nulls."""
    if isinstance(value, dict):
        return {key: _without_nulls(item) for key, item in value.items() if item is not None}
    return value


def structural(schema: dict[str, Any], defs: dict[str, Any] | None = None) -> dict[str, Any]:
    """One Pydantic JSON Schema node as a structural OpenAPI v3 node (recursively)."""
    defs = schema.get("$defs", {}) if defs is None else defs
    node = copy.deepcopy(schema)
    if "$ref" in node:
        target = defs[node.pop("$ref").rsplit("/", 1)[1]]
        node = {**copy.deepcopy(target), **node}
    if "anyOf" in node:
        branches = [b for b in node.pop("anyOf") if b.get("type") != "null"]
        if len(branches) != 1:
            raise ValueError(f"cannot express anyOf {branches} in a structural schema")
        node = {**structural(branches[0], defs), **node}
        if node.get("default", ...) is None:
            del node["default"]
    for key in _DROPPED:
        node.pop(key, None)
    if isinstance(node.get("default"), dict):
        node["default"] = _without_nulls(node["default"])
    if "properties" in node:
        node["properties"] = {name: structural(child, defs) for name, child in node["properties"].items()}
        node.pop("additionalProperties", None)  # exclusive with properties; the API server prunes unknown fields
    elif isinstance(node.get("additionalProperties"), dict):
        node["additionalProperties"] = structural(node["additionalProperties"], defs)
    if "items" in node:
        node["items"] = structural(node["items"], defs)
    if "enum" in node and "type" not in node:
        node["type"] = "string"
    return node


def _apply_rules(schema: dict[str, Any]) -> None:
    for path, rules in RULES.items():
        node = schema
        for part in path.split("."):
            node = node["properties"][part]
        node["x-kubernetes-validations"] = rules


def _status_schema() -> dict[str, Any]:
    status = structural(TranscriptionJobStatus.model_json_schema(by_alias=True))
    conditions = status["properties"]["conditions"]
    conditions.pop("default", None)
    conditions["x-kubernetes-list-type"] = "map"
    conditions["x-kubernetes-list-map-keys"] = ["type"]
    conditions["items"]["properties"]["lastTransitionTime"]["format"] = "date-time"
    return status


def open_api_schema() -> dict[str, Any]:
    spec = structural(TranscriptionJobSpec.model_json_schema(by_alias=True))
    schema: dict[str, Any] = {
        "type": "object",
        "description": "Transcribe one audio source with Whisper, on a GPU when there is one.",
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": spec,
            "status": _status_schema(),
        },
    }
    _apply_rules(schema)
    return schema


def build() -> dict[str, Any]:
    """The CustomResourceDefinition manifest."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{PLURAL}.{GROUP}",
            "labels": {"app.kubernetes.io/part-of": "dhg-ai-factory"},
        },
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": PLURAL,
                "singular": SINGULAR,
                "shortNames": list(SHORT_NAMES),
                "categories": list(CATEGORIES),
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": open_api_schema()},
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": PRINTER_COLUMNS,
                }
            ],
        },
    }


HEADER = "# Generated from controller/model.py by `make crd`: edit the model, not this file.\n"


def render() -> str:
    return HEADER + str(yaml.safe_dump(build(), sort_keys=False, width=120))


if __name__ == "__main__":
    # `python -m controller.crd`: to stdout; with paths, into each (crds/ and the chart's crds/).
    if len(sys.argv) > 1:
        for target in sys.argv[1:]:
            with open(target, "w") as out:
                out.write(render())
    else:
        sys.stdout.write(render())
