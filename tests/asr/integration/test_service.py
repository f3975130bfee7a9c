"""The ASR service over real HTTP with the real bundled model: the official OpenAI client, formats,
refusals, the bounded queue, and decoding settings that keep silence and noise from hallucinating."""

import concurrent.futures

import httpx
import numpy as np
import pytest
from openai import BadRequestError, NotFoundError, OpenAI

from asr.diarization.evaluation import wav as wav_bytes
from asr.evaluation import word_error_rate
from tests.asr.service import SAMPLE, SAMPLE_REFERENCE, start_asr

SAMPLE_MAX_WER = 0.15


@pytest.fixture(scope="module")
def asr(tmp_path_factory):
    # One decoder and one place in the queue: the 429 test fills both (batching would otherwise decode 8 at once).
    outbox = tmp_path_factory.mktemp("outbox")
    service = start_asr(outbox_dir=outbox, api_key="test-asr-key", queue_size=1, concurrency=1)
    yield service
    service.stop()


@pytest.fixture
def openai_client(asr):
    return OpenAI(base_url=f"{asr.url}/v1", api_key="test-asr-key", max_retries=0)


def test_the_official_openai_client_gets_a_correct_transcript(openai_client):
    with SAMPLE.open("rb") as handle:
        result = openai_client.audio.transcriptions.create(model="whisper-1", file=handle)
    assert word_error_rate(SAMPLE_REFERENCE, result.text) <= SAMPLE_MAX_WER, result.text


def test_verbose_json_has_segments_words_language_and_duration(openai_client):
    with SAMPLE.open("rb") as handle:
        result = openai_client.audio.transcriptions.create(
            model="tiny.en", file=handle, response_format="verbose_json", timestamp_granularities=["word", "segment"]
        )
    assert result.language == "english" and result.duration == pytest.approx(15.4, abs=0.1)
    assert len(result.segments) >= 2 and len(result.words) >= 30
    starts = [w.start for w in result.words]
    assert starts == sorted(starts) and result.words[-1].end <= 15.9
    assert result.segments[0].start == 0.0 and "dashwood" in result.segments[0].text.lower()


@pytest.mark.parametrize(
    ("fmt", "prefix"),
    [("srt", "1\n00:00:00,000 --> "), ("vtt", "WEBVTT\n\n00:00:00.000 --> "), ("text", "And Mr. John Dashwood")],
)
def test_subtitle_and_text_formats(openai_client, fmt, prefix):
    with SAMPLE.open("rb") as handle:
        body = openai_client.audio.transcriptions.create(model="whisper-1", file=handle, response_format=fmt)
    assert body.startswith(prefix), body[:80]


def test_silence_and_noise_produce_no_hallucinated_text(asr):
    rng = np.random.default_rng(7)
    for audio in (np.zeros(16000 * 20), rng.normal(0, 0.05, 16000 * 20)):
        response = httpx.post(
            f"{asr.url}/v1/audio/transcriptions",
            headers={"Authorization": "Bearer test-asr-key"},
            files={"file": ("quiet.wav", wav_bytes(audio), "audio/wav")},
            timeout=120,
        )
        assert response.status_code == 200 and response.json() == {"text": ""}


@pytest.mark.parametrize(
    ("files", "data", "status", "slug"),
    [
        ({"file": ("notes.txt", b"definitely not audio", "text/plain")}, {}, 400, "bad-audio"),
        ({"file": ("empty.wav", b"", "audio/wav")}, {}, 400, "empty-audio"),
        ({}, {"model": "whisper-1"}, 400, "invalid-request"),
        ({"file": ("a.opus", SAMPLE.read_bytes(), "audio/ogg")}, {"response_format": "docx"}, 400, "invalid-request"),
        ({"file": ("a.opus", SAMPLE.read_bytes(), "audio/ogg")}, {"model": "large-v9"}, 404, "model-not-found"),
        ({"file": ("a.opus", SAMPLE.read_bytes(), "audio/ogg")}, {"temperature": "3"}, 400, "invalid-request"),
    ],
)
def test_bad_input_is_a_4xx_problem_never_a_500(asr, files, data, status, slug):
    response = httpx.post(
        f"{asr.url}/v1/audio/transcriptions",
        headers={"Authorization": "Bearer test-asr-key"},
        files=files,
        data=data,
        timeout=60,
    )
    assert response.status_code == status, response.text
    problem = response.json()
    assert problem["type"].endswith(slug) and problem["error"]["message"] == problem["detail"]


def test_openai_client_sees_typed_errors(openai_client):
    with pytest.raises(BadRequestError):
        openai_client.audio.transcriptions.create(model="whisper-1", file=("x.txt", b"not audio"))
    with pytest.raises(NotFoundError):
        openai_client.audio.transcriptions.create(model="nope", file=("a.opus", SAMPLE.read_bytes()))


def test_translation_with_an_english_only_model_is_refused_clearly(openai_client):
    with pytest.raises(BadRequestError, match="English-only"):
        openai_client.audio.translations.create(model="whisper-1", file=("a.opus", SAMPLE.read_bytes()))


def test_the_api_key_is_required_when_configured(asr):
    response = httpx.post(
        f"{asr.url}/v1/audio/transcriptions", files={"file": ("a.opus", SAMPLE.read_bytes(), "audio/ogg")}
    )
    assert response.status_code == 401 and response.json()["type"].endswith("/unauthenticated")


def test_a_full_queue_answers_429_with_retry_after(asr):
    def post():
        return httpx.post(
            f"{asr.url}/v1/audio/transcriptions",
            headers={"Authorization": "Bearer test-asr-key"},
            files={"file": ("a.opus", SAMPLE.read_bytes(), "audio/ogg")},
            timeout=300,
        )

    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        responses = list(pool.map(lambda _: post(), range(4)))
    codes = sorted(r.status_code for r in responses)
    assert codes.count(200) >= 2 and 429 in codes, codes
    refused = next(r for r in responses if r.status_code == 429)
    assert refused.headers["retry-after"] == "5" and refused.json()["type"].endswith("/queue-full")
    assert refused.json()["retry_after"] == 5


def test_health_readiness_and_metrics(asr):
    assert httpx.get(f"{asr.url}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{asr.url}/readyz").json()["model"] == "tiny.en"
    text = httpx.get(f"{asr.url}/metrics/").text
    for name in (
        'dhg_asr_device_info{device="cpu"} 1.0',
        "dhg_asr_real_time_factor_bucket",
        "dhg_asr_audio_seconds_total",
        "dhg_asr_model_load_seconds_bucket",
        "dhg_asr_queue_depth",
        'dhg_asr_http_requests_total{method="POST",route="/v1/audio/transcriptions",status="200"}',
    ):
        assert name in text, name
