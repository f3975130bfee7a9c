"""Start the ASR service over real HTTP for tests."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn
from prometheus_client import REGISTRY

from asr.app import create_app
from asr.settings import Settings
from tests.conftest import serve

SAMPLE = Path(__file__).parents[2] / "dhg" / "samples" / "sense-and-sensibility.opus"
SAMPLE_REFERENCE = (
    "and mister john dashwood had then leisure to consider how much there might be prudently in his power to do "
    "for them he was not an ill disposed young man unless to be rather cold hearted and rather selfish is to be "
    "ill disposed"
)


@dataclass
class RunningAsr:
    url: str
    server: uvicorn.Server
    thread: object
    app: object

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)  # type: ignore[attr-defined]


def start_asr(**overrides: object) -> RunningAsr:
    """Serve the ASR app and wait until its default model is loaded. Its default model is tiny.en unless a test
    says otherwise: the English fixtures of these tests were written against it, and it decodes twice as fast as
    the product's default, the multilingual base (tests/asr/integration/test_languages.py serves that one)."""
    overrides.setdefault("default_model", "tiny.en")
    app = create_app(Settings(**overrides))  # type: ignore[arg-type]
    url, server, thread = serve(app)
    deadline = time.monotonic() + 120
    while httpx.get(f"{url}/readyz").status_code != 200:
        if time.monotonic() > deadline:
            raise RuntimeError("the ASR service did not get ready")
        time.sleep(0.1)
    return RunningAsr(url, server, thread, app)


def transcriptions_ended(outcome: str, engine: str = "faster-whisper", device: str = "cpu") -> float:
    """`dhg_asr_transcriptions_total` for one outcome, read in this process (the test servers run in it)."""
    labels = {"engine": engine, "device": device, "outcome": outcome}
    return REGISTRY.get_sample_value("dhg_asr_transcriptions_total", labels) or 0.0
