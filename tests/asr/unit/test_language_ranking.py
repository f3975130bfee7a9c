"""Language detection's answer, with a stand-in engine that ranks languages the way faster-whisper's
`detect_language` does (the real multilingual base is tested in tests/asr/integration/test_languages.py); the audio
decoding, the route, the ranking cut and the answer's shape are the service's own."""

import io
import wave

import numpy as np
from fastapi.testclient import TestClient

from asr.app import create_app
from asr.settings import Settings

RANKING = [("de", 0.62), ("nl", 0.21), ("en", 0.09), ("da", 0.04), ("sv", 0.02), ("no", 0.01), ("fr", 0.01)]


class Multilingual:
    name, model, device, compute_type, multilingual = "stand-in", "small", "cpu", "int8", True

    def __init__(self) -> None:
        self.heard = 0

    def detect_language(self, audio):
        self.heard = len(audio)
        return RANKING


class Models:
    def __init__(self, engine) -> None:
        self.engine = engine

    def get(self, requested=None, engine=None):
        return self.engine

    def check(self, requested, options):
        """What the catalogue refuses before loading (asr/models.py) is left to the engine's own check here."""
        return requested or self.engine.model

    def touch(self, engine) -> None:
        pass

    def unload_idle(self):
        return []


def wav(seconds: float) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(16000)
        tone = 0.1 * np.sin(np.arange(int(seconds * 16000)) * 2 * np.pi * 220 / 16000)
        handle.writeframes((tone * 32767).astype("<i2").tobytes())
    return buffer.getvalue()


def test_the_top_languages_come_ranked_and_only_30_seconds_are_read(tmp_path):
    app = create_app(Settings(outbox_dir=tmp_path / "outbox", spool_dir=tmp_path / "spool"))
    engine = Multilingual()
    app.state.service.models = Models(engine)
    with TestClient(app) as client:
        response = client.post("/v1/audio/language", files={"file": ("a.wav", wav(45), "audio/wav")}, data={"top": "3"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["language"], body["probability"], body["multilingual"], body["model"]) == ("de", 0.62, True, "small")
    assert body["languages"] == [
        {"language": "de", "probability": 0.62},
        {"language": "nl", "probability": 0.21},
        {"language": "en", "probability": 0.09},
    ]
    assert engine.heard == 30 * 16000
