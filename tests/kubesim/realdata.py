"""Real kube-apiserver responses (tests/fixtures/k8s, each with its provenance in that folder's README.md and
index.json), to compare the stand-in's answers with."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "k8s"


def fixture(name: str) -> Any:
    path = FIXTURES / name
    if not path.exists():
        pytest.fail(f"missing contract fixture {path} ")
    return json.loads(path.read_text())


def raw_http_body(name: str) -> Any:
    """The JSON body of a verbatim HTTP/1.1 response (headers, then the body after a blank line)."""
    text = (FIXTURES / "raw-http" / name).read_bytes().decode()
    return json.loads(text.split("\r\n\r\n", 1)[1])


def ndjson(name: str) -> list[Any]:
    return [json.loads(line) for line in (FIXTURES / name).read_text().splitlines() if line]
