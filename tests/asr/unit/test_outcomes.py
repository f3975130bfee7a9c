"""`dhg_asr_transcriptions_total{outcome}` counts how transcriptions end, not only the ones that succeed: through
the real app and routes, with a stand-in engine (the audio decoding, admission and counting are the service's own)."""

import asyncio
import time

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from asr import errors
from asr.app import create_app
from asr.metrics import OUTCOMES
from asr.outcomes import outcome_of
from asr.settings import Settings
from tests.asr.unit.test_language_ranking import Models, wav

AUTH = {"Authorization": "Bearer test-key"}


class EnglishOnly:
    name, model, device, compute_type, multilingual = "stand-in", "tiny.en", "cpu", "int8", False

    def transcribe(self, audio, options):
        raise RuntimeError("the decoder broke")


def count(outcome: str) -> float:
    labels = {"engine": EnglishOnly.name, "device": EnglishOnly.device, "outcome": outcome}
    return REGISTRY.get_sample_value("dhg_asr_transcriptions_total", labels) or 0.0


def counts() -> dict[str, float]:
    return {outcome: count(outcome) for outcome in OUTCOMES}


@pytest.fixture
def make_client(tmp_path):
    def make(**overrides) -> TestClient:
        settings = Settings(
            outbox_dir=tmp_path / "outbox", spool_dir=tmp_path / "spool", api_key="test-key", **overrides
        )
        app = create_app(settings)
        app.state.service.models = Models(EnglishOnly())
        return TestClient(app, raise_server_exceptions=False)

    return make


def ready(client: TestClient) -> TestClient:
    """Outcomes carry the default model's engine and device: wait until it is loaded."""
    for _ in range(100):
        if client.get("/readyz").status_code == 200:
            return client
        time.sleep(0.05)
    raise AssertionError("the stand-in model did not load")


@pytest.mark.parametrize(
    ("path", "upload", "data", "headers", "status", "outcome"),
    [
        ("transcriptions", ("notes.txt", b"definitely not audio", "text/plain"), {}, {}, 400, "bad_audio"),
        ("transcriptions", ("empty.wav", b"", "audio/wav"), {}, {}, 400, "bad_audio"),
        ("transcriptions", ("x.wav", b"not audio" * 50, "audio/wav"), {"stream": "true"}, {}, 400, "bad_audio"),
        (
            "transcriptions",
            ("x.wav", b"not audio" * 50, "audio/wav"),
            {},
            {"Prefer": "respond-async"},
            400,
            "bad_audio",
        ),
        ("translations", ("a.wav", wav(1), "audio/wav"), {}, {}, 400, "invalid"),
        ("transcriptions", ("a.wav", wav(1), "audio/wav"), {}, {}, 500, "error"),
    ],
)
def test_a_transcription_that_fails_is_counted_by_its_outcome(
    make_client, path, upload, data, headers, status, outcome
):
    with make_client() as client:
        ready(client)
        before = counts()
        response = client.post(f"/v1/audio/{path}", headers={**AUTH, **headers}, files={"file": upload}, data=data)
    assert response.status_code == status, response.text
    after = counts()
    assert {key: after[key] - before[key] for key in OUTCOMES} == {key: float(key == outcome) for key in OUTCOMES}


def test_a_refusal_at_the_full_queue_is_counted_as_rejected(make_client):
    with make_client(queue_size=0) as client:
        ready(client)
        before = count("rejected")
        response = client.post("/v1/audio/transcriptions", headers=AUTH, files={"file": ("a.wav", wav(1), "audio/wav")})
    assert response.status_code == 429 and response.headers["retry-after"] == "5"
    assert count("rejected") - before == 1


def test_every_outcome_exists_at_zero_once_the_model_is_loaded(make_client):
    with make_client() as client:
        ready(client)
        exposed = client.get("/metrics/").text
    for outcome in OUTCOMES:
        assert f'dhg_asr_transcriptions_total{{device="cpu",engine="stand-in",outcome="{outcome}"}}' in exposed


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (errors.BadAudio("x"), "bad_audio"),
        (errors.AudioTooLong("x"), "bad_audio"),
        (errors.TooLarge("x"), "bad_audio"),
        (errors.ModelNotFound("x"), "invalid"),
        (errors.QueueFull("x", retry_after=5), "rejected"),
        (errors.JobCancelled("x"), "cancelled"),
        (asyncio.CancelledError(), "cancelled"),
        (errors.DeviceUnavailable("x"), "error"),
        (ValueError("x"), "error"),
    ],
)
def test_each_error_maps_to_one_outcome_of_the_fixed_set(error, outcome):
    assert outcome_of(error) == outcome and outcome in OUTCOMES
