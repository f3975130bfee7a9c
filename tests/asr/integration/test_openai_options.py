"""The rest of today's OpenAI transcription API, over real HTTP with the official client and the real model on the
bundled sample: model-name aliases, include[]=logprobs, chunking_strategy, hotwords/keywords, subtitle layout."""

from __future__ import annotations

import httpx
import pytest
from openai import BadRequestError, OpenAI

from asr.evaluation import word_error_rate
from tests.asr.service import SAMPLE, SAMPLE_REFERENCE, start_asr

KEY = "test-asr-key"
MAX_WER = 0.2


@pytest.fixture(scope="module")
def asr(tmp_path_factory):
    service = start_asr(outbox_dir=tmp_path_factory.mktemp("outbox"), api_key=KEY)
    yield service
    service.stop()


@pytest.fixture(scope="module")
def client(asr) -> OpenAI:
    return OpenAI(base_url=f"{asr.url}/v1", api_key=KEY, max_retries=0, timeout=300)


def sample() -> tuple[str, bytes, str]:
    return ("sample.opus", SAMPLE.read_bytes(), "audio/ogg")


@pytest.mark.parametrize("model", ["gpt-4o-transcribe", "gpt-4o-mini-transcribe", "gpt-4o-transcribe-diarize"])
def test_clients_written_for_openai_s_newer_models_work(client: OpenAI, model: str) -> None:
    result = client.audio.transcriptions.create(model=model, file=sample())
    assert word_error_rate(SAMPLE_REFERENCE, result.text) <= MAX_WER, result.text


def test_include_logprobs_gives_each_token_s_log_probability(client: OpenAI) -> None:
    result = client.audio.transcriptions.create(
        model="gpt-4o-transcribe", file=sample(), response_format="json", include=["logprobs"]
    )
    assert result.logprobs and all(entry.logprob <= 0 and entry.token for entry in result.logprobs)
    tokens = [entry.token for entry in result.logprobs]
    assert "".join(tokens).strip() == result.text.strip()  # the tokens spell the text
    assert len(tokens) > len(result.text.split())  # tokens, not words: "Dashwood" is " Dash" + "wood"
    assert " Dash" in tokens and "wood" in tokens
    assert bytes(int(b) for b in result.logprobs[0].bytes) == result.logprobs[0].token.encode()


def test_chunking_strategy_server_vad_is_taken(client: OpenAI) -> None:
    strategy = {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300, "silence_duration_ms": 500}
    result = client.audio.transcriptions.create(model="whisper-1", file=sample(), chunking_strategy=strategy)
    assert word_error_rate(SAMPLE_REFERENCE, result.text) <= MAX_WER, result.text
    auto = client.audio.transcriptions.create(model="whisper-1", file=sample(), chunking_strategy="auto")
    assert word_error_rate(SAMPLE_REFERENCE, auto.text) <= MAX_WER
    with pytest.raises(BadRequestError, match="threshold"):
        client.audio.transcriptions.create(
            model="whisper-1", file=sample(), chunking_strategy={"type": "server_vad", "threshold": 3}
        )


def test_hotwords_steer_the_spelling_of_a_name(asr) -> None:
    """The sample says "Dashwood"; a hotword spelled "Dashwoode" is what the decoder now prefers."""

    def transcript(**data: str) -> str:
        response = httpx.post(
            f"{asr.url}/v1/audio/transcriptions",
            headers={"Authorization": f"Bearer {KEY}"},
            files={"file": sample()},
            data=data,
            timeout=300,
        )
        assert response.status_code == 200, response.text
        return str(response.json()["text"])

    assert "Dashwood " in transcript()
    steered = transcript(hotwords="Dashwoode")
    assert "Dashwoode" in steered and word_error_rate(SAMPLE_REFERENCE, steered) <= MAX_WER + 0.1
    assert "Dashwoode" in transcript(**{"keywords[]": "Dashwoode"})


def test_subtitles_are_laid_out_by_line_width_and_count(asr) -> None:
    response = httpx.post(
        f"{asr.url}/v1/audio/transcriptions",
        headers={"Authorization": f"Bearer {KEY}"},
        files={"file": sample()},
        data={"response_format": "srt", "max_line_width": "20", "max_line_count": "2"},
        timeout=300,
    )
    assert response.status_code == 200, response.text
    cues = [cue.split("\n") for cue in response.text.strip().split("\n\n")]
    lines = [line for cue in cues for line in cue[2:]]
    assert all(len(cue) <= 4 for cue in cues)  # number, times, at most two lines
    assert all(len(line) <= 20 or " " not in line for line in lines), lines
    assert len(cues) >= 6 and "Dashwood" in response.text
    refused = httpx.post(
        f"{asr.url}/v1/audio/transcriptions",
        headers={"Authorization": f"Bearer {KEY}"},
        files={"file": sample()},
        data={"response_format": "json", "max_line_width": "20"},
    )
    assert refused.status_code == 400 and "srt and vtt only" in refused.json()["detail"]
