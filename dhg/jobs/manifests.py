"""TranscriptionJob manifests read as `kubectl apply -f` reads them, and validated as the API server would.

The same Pydantic model that generates the CRD validates each document (types, bounds, patterns, unknown fields),
and the CRD's CEL rules (`controller.crd.RULES`) are stated here by the model's validators and by the store's
immutability check, with the CRD's own messages. Errors read like kubectl's:
`The TranscriptionJob "talk" is invalid: spec.source: Invalid value: "object": source needs exactly one of url,
assetId, path`.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from controller.crd import RULES
from controller.model import API_VERSION, GROUP, KIND, TranscriptionJob

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")  # what kubectl reads from a directory
# metadata.name: a DNS-1123 subdomain, as the API server requires of a custom resource's name.
NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
MAX_NAME = 253
DEFAULT_NAMESPACE = "default"
IMMUTABLE_MESSAGE = RULES["spec"][0]["message"]


class ManifestError(ValueError):
    """A document that cannot be applied: its text says where and why (one line per problem)."""


@dataclass(frozen=True)
class Document:
    origin: str  # FILE (document N) or "stdin", for messages
    body: Any


@dataclass(frozen=True)
class Manifest:
    origin: str
    job: TranscriptionJob  # metadata.name and namespace set; no uid, no status

    @property
    def key(self) -> tuple[str, str]:
        return str(self.job.metadata.namespace), str(self.job.metadata.name)


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.is_file() and p.suffix in MANIFEST_SUFFIXES)
    if path.is_file():
        return [path]
    raise ManifestError(f'the path "{path}" does not exist')


def read_documents(sources: Iterable[str]) -> list[Document]:
    """Every YAML document of each FILE, DIR (its .yaml, .yml and .json files, sorted) or `-` (stdin)."""
    documents: list[Document] = []
    for source in sources:
        texts = [("stdin", sys.stdin.read())] if source == "-" else [(str(p), _read(p)) for p in _files(Path(source))]
        for name, text in texts:
            try:
                loaded = [body for body in yaml.safe_load_all(text) if body is not None]
            except yaml.YAMLError as error:
                raise ManifestError(f"{name}: not valid YAML: {' '.join(str(error).split())}") from error
            many = len(loaded) > 1
            documents += [Document(f"{name} (document {i + 1})" if many else name, b) for i, b in enumerate(loaded)]
    if not documents:
        raise ManifestError("no objects passed to apply")
    return documents


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise ManifestError(f"{path}: cannot be read: {error}") from error


def _location(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _problem(error: dict[str, Any]) -> str:
    """One pydantic error as kubectl words the API server's (field path first)."""
    loc = tuple(part for part in error["loc"] if part not in ("function-after[_exactly_one()]",))
    where = _location(loc)
    kind, message = error["type"], str(error["msg"])
    if kind == "extra_forbidden":
        return f'unknown field "{where}"'
    if kind == "missing":
        return f"{where}: Required value"
    if kind == "value_error":  # a model validator: the CRD's CEL rule, with its message
        return f'{where}: Invalid value: "object": {message.removeprefix("Value error, ")}'
    value = error.get("input")
    shown = value if isinstance(value, int | float | bool) else f'"{value}"' if isinstance(value, str) else "object"
    return f"{where}: Invalid value: {shown}: {message}"


def validate(document: Document, namespace: str | None = None) -> Manifest:
    """The document as a TranscriptionJob, or a ManifestError naming every problem."""
    body = document.body
    if not isinstance(body, dict):
        raise ManifestError(f"{document.origin}: a manifest is a mapping (apiVersion, kind, metadata, spec)")
    api_version, kind = body.get("apiVersion"), body.get("kind")
    if not api_version or not kind:
        missing = "apiVersion" if not api_version else "kind"
        raise ManifestError(f"{document.origin}: error validating data: {missing} not set")
    if kind != KIND or api_version != API_VERSION:
        raise ManifestError(
            f'{document.origin}: no matches for kind "{kind}" in version "{api_version}" '
            f"(dhg apply runs {KIND} objects of {API_VERSION}; {GROUP} has no other kind)"
        )
    metadata = body.get("metadata") or {}
    name = metadata.get("name") if isinstance(metadata, dict) else None
    if not name:
        raise ManifestError(f"{document.origin}: {KIND}: metadata.name: Required value: name is required")
    name = str(name)
    if len(name) > MAX_NAME or not NAME.match(name):
        raise ManifestError(
            f'{document.origin}: The {KIND} "{name}" is invalid: metadata.name: Invalid value: "{name}": a lowercase '
            "RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and "
            "end with an alphanumeric character"
        )
    wanted = namespace or metadata.get("namespace") or DEFAULT_NAMESPACE
    if namespace and metadata.get("namespace") and metadata["namespace"] != namespace:
        raise ManifestError(
            f'{document.origin}: the namespace from the provided object "{metadata["namespace"]}" does not match '
            f"the namespace \"{namespace}\". You must pass '--namespace={metadata['namespace']}' to perform this "
            "operation."
        )
    if not NAME.match(str(wanted)) or "." in str(wanted):
        raise ManifestError(f'{document.origin}: metadata.namespace: Invalid value: "{wanted}"')
    kept = {"name": name, "namespace": wanted}
    for extra in ("labels", "annotations"):
        if isinstance(metadata.get(extra), dict):
            kept[extra] = {str(k): str(v) for k, v in metadata[extra].items()}
    spec_only = {"apiVersion": api_version, "kind": kind, "metadata": kept, "spec": body.get("spec")}
    try:
        job = TranscriptionJob.model_validate(spec_only)
    except ValidationError as error:
        problems = "; ".join(_problem(e) for e in error.errors(include_url=False))  # type: ignore[arg-type]
        raise ManifestError(f'{document.origin}: The {KIND} "{name}" is invalid: {problems}') from error
    return Manifest(document.origin, job)


def spec_of(job: TranscriptionJob) -> dict[str, Any]:
    """The spec with its defaults, as the API server stores it (what immutability compares)."""
    return job.spec.model_dump(by_alias=True, exclude_none=True, mode="json")
