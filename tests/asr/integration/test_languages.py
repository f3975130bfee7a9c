"""Every language, offline: the service with its product defaults (the multilingual base that comes with the package)
over real HTTP, read by the official OpenAI client. German and Spanish are espeak-ng's voices; French is a person,
the Canadian French voice (June) of Asterisk's prompts (Debian: asterisk-core-sounds-fr-gsm)."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from openai import BadRequestError, NotFoundError, OpenAI

from asr.evaluation import word_error_rate
from tests.asr.service import start_asr

KEY = "test-languages-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
ASTERISK_FRENCH = Path("/usr/share/asterisk/sounds/fr_CA_f_June")
SPOKEN = {
    "de": "Guten Morgen. Heute ist das Wetter sehr schön, und wir gehen zusammen in den Park.",
    "es": "Buenos días. Hoy hace muy buen tiempo y vamos juntos al parque.",
}
# "To hear the next message, press 6. To repeat this message, press 5. ..." (23 s)
FRENCH_PROMPT = "vm-msginstruct.gsm"
# espeak-ng's formant voices are hard to hear (base misses 2-3 words of 16 in its German sentence); a transcript in
# the wrong language, or an English-sounding guess, is far above this.
MAX_WER = 0.5


def _ffmpeg(*arguments: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", *arguments], check=True)


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    assert shutil.which("espeak-ng") and shutil.which("ffmpeg"), "make system-packages installs espeak-ng and ffmpeg"
    assert (ASTERISK_FRENCH / FRENCH_PROMPT).is_file(), "make system-packages installs asterisk-core-sounds-fr-gsm"
    folder = tmp_path_factory.mktemp("languages")
    found = {}
    for code, text in SPOKEN.items():
        raw = folder / f"{code}-espeak.wav"
        subprocess.run(["espeak-ng", "-v", code, "-s", "130", "-g", "4", "-w", str(raw), text], check=True)
        found[code] = folder / f"{code}.wav"
        _ffmpeg("-i", str(raw), "-ar", "16000", "-ac", "1", str(found[code]))
    found["fr"] = folder / "fr.wav"
    _ffmpeg("-f", "gsm", "-ar", "8000", "-i", str(ASTERISK_FRENCH / FRENCH_PROMPT), "-ar", "16000", str(found["fr"]))
    return found


@pytest.fixture(scope="module")
def asr(tmp_path_factory: pytest.TempPathFactory):
    service = start_asr(
        default_model="base",  # the product's default (Settings), said here because start_asr's is tiny.en
        outbox_dir=tmp_path_factory.mktemp("outbox"),
        spool_dir=tmp_path_factory.mktemp("spool"),
        model_cache_dir=tmp_path_factory.mktemp("models"),
        api_key=KEY,
    )
    yield service
    service.stop()


@pytest.fixture(scope="module")
def client(asr) -> OpenAI:
    return OpenAI(base_url=f"{asr.url}/v1", api_key=KEY, max_retries=0)


def test_the_default_model_is_the_multilingual_base_as_settings_say() -> None:
    from asr.settings import Settings

    assert Settings().default_model == "base"
    assert Settings().models == {"tiny.en": "bundled", "base": "bundled"}


@pytest.mark.parametrize(("code", "name"), [("de", "german"), ("fr", "french"), ("es", "spanish")])
def test_the_official_client_hears_the_language_without_being_told(client, clips, code, name) -> None:
    with clips[code].open("rb") as audio:
        result = client.audio.transcriptions.create(model="whisper-1", file=audio, response_format="verbose_json")
    assert result.language == name, result
    assert result.model_extra["language_probability"] > 0.5, result
    if code in SPOKEN:
        assert word_error_rate(SPOKEN[code], result.text) <= MAX_WER, result.text
    else:
        words = set(result.text.lower().replace(",", " ").replace(".", " ").split())
        assert {"message", "appuyez"} <= words, result.text


@pytest.fixture(scope="module")
def prepared_client(prepared_root, tmp_path_factory: pytest.TempPathFactory):
    """The service as the images run it: the bundled models served from their int8 copies (asr.quantize)."""
    service = start_asr(
        default_model="base",
        prepared_models_dir=prepared_root,
        outbox_dir=tmp_path_factory.mktemp("outbox"),
        spool_dir=tmp_path_factory.mktemp("spool"),
        model_cache_dir=tmp_path_factory.mktemp("models"),
        api_key=KEY,
    )
    yield OpenAI(base_url=f"{service.url}/v1", api_key=KEY, max_retries=0)
    service.stop()


def test_the_images_int8_copies_hear_as_well_as_the_wheels_float16(client, prepared_client, clips) -> None:
    served = {model.id: model.model_extra for model in prepared_client.models.list().data}
    assert {name: card["quantization"] for name, card in served.items()} == {"base": "int8", "tiny.en": "int8"}
    assert served["base"]["size_bytes"] < 0.6 * client.models.retrieve("base").model_extra["size_bytes"]
    for code in ("de", "fr", "es"):
        heard = []
        for service in (client, prepared_client):
            with clips[code].open("rb") as audio:
                heard.append(
                    service.audio.transcriptions.create(model="whisper-1", file=audio, response_format="verbose_json")
                )
        wheels, prepared = heard
        assert prepared.language == wheels.language, (wheels, prepared)
        # The same words within one in eight (two of the sixteen in the German sentence): int8 weights made once
        # here or from float16 at load time round a few weights differently, never a different transcript.
        assert word_error_rate(wheels.text, prepared.text) <= 0.125, (wheels.text, prepared.text)


def test_a_translation_is_english(client, clips) -> None:
    with clips["es"].open("rb") as audio:
        text = client.audio.translations.create(model="whisper-1", file=audio, response_format="text")
    assert word_error_rate("Good morning. Today the weather is very good and we go together to the park.", text) <= 0.5
    assert "park" in text.lower() and "parque" not in text.lower(), text


def test_a_translation_streams_and_runs_as_an_async_job(asr, clips) -> None:
    data, files = {"model": "whisper-1", "stream": "true"}, {"file": ("de.wav", clips["de"].read_bytes())}
    streamed = httpx.post(f"{asr.url}/v1/audio/translations", headers=AUTH, data=data, files=files, timeout=120)
    assert streamed.status_code == 200, streamed.text
    lines = [line[6:] for line in streamed.text.splitlines() if line.startswith("data: ")]
    assert lines[-1] == "[DONE]"
    events = [json.loads(line) for line in lines[:-1]]
    done = events[-1]
    assert done["type"] == "transcript.text.done" and "park" in done["text"].lower(), events
    assert "".join(e["delta"] for e in events if e["type"] == "transcript.text.delta").strip() == done["text"]
    submitted = httpx.post(
        f"{asr.url}/v1/audio/translations",
        headers={**AUTH, "Prefer": "respond-async"},
        data={"model": "base", "response_format": "srt"},
        files=files,
    )
    assert submitted.status_code == 202, submitted.text
    location = f"{asr.url}{submitted.headers['Location']}"
    for _ in range(1200):
        if httpx.get(location, headers=AUTH).json()["status"] in ("succeeded", "failed"):
            break
        time.sleep(0.1)
    result = httpx.get(f"{location}/result", headers=AUTH)
    assert result.status_code == 200, result.text
    assert result.text.startswith("1\n00:00:") and "park" in result.text.lower(), result.text


def test_language_identification_ranks_the_languages_with_probabilities(asr, clips) -> None:
    answer = httpx.post(
        f"{asr.url}/v1/audio/language",
        headers=AUTH,
        files={"file": ("fr.wav", clips["fr"].read_bytes())},
        data={"top": "3", "duration": "20"},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["language"] == "fr" and body["probability"] > 0.5 and body["multilingual"] is True, body
    assert body["model"] == "base" and len(body["languages"]) == 3
    probabilities = [entry["probability"] for entry in body["languages"]]
    assert probabilities == sorted(probabilities, reverse=True) and sum(probabilities) <= 1.0 + 1e-6
    too_long = httpx.post(
        f"{asr.url}/v1/audio/language",
        headers=AUTH,
        files={"file": ("fr.wav", clips["fr"].read_bytes())},
        data={"duration": "301"},
    )
    assert too_long.status_code == 400 and too_long.headers["content-type"] == "application/problem+json"


def test_the_catalogue_lists_both_models_with_what_each_can_do(client) -> None:
    models = {model.id: model for model in client.models.list()}
    assert set(models) == {"base", "tiny.en"}
    base, english = models["base"].model_extra, models["tiny.en"].model_extra
    assert models["base"].object == "model" and models["base"].owned_by == "openai"
    assert base["multilingual"] is True and english["multilingual"] is False
    assert base["tasks"] == ["transcribe", "translate"] and english["tasks"] == ["transcribe"]
    assert len(base["languages"]) == 99 and english["languages"] == ["en"]
    assert base["default"] is True and base["loaded"] is True and base["device"] == "cpu"
    assert english["loaded"] is False  # nothing asked for it yet
    assert base["batch_size"] == english["batch_size"] == 8  # batched by default (DHG_ASR_BATCH_SIZE)
    assert {"whisper-1", "gpt-4o-transcribe", "gpt-4o-mini-transcribe"} <= set(base["aliases"])
    assert base["size_bytes"] == 145_217_607 + 2_309 + 3_930_462 + 1_068_101
    assert english["size_bytes"] > 70_000_000
    assert client.models.retrieve("whisper-1").id == "base"
    assert client.models.retrieve("tiny.en").id == "tiny.en"


def test_an_unknown_model_is_a_404_naming_the_models_served(client, clips) -> None:
    with pytest.raises(NotFoundError) as retrieved:
        client.models.retrieve("large-v9")
    assert "base" in str(retrieved.value) and "tiny.en" in str(retrieved.value)
    with clips["es"].open("rb") as audio, pytest.raises(NotFoundError) as transcribed:
        client.audio.transcriptions.create(model="large-v9", file=audio)
    assert "large-v9" in str(transcribed.value) and "base" in str(transcribed.value)


def test_the_english_only_model_refuses_other_languages_and_names_the_one_that_can(client, clips) -> None:
    with clips["de"].open("rb") as audio, pytest.raises(BadRequestError) as other:
        client.audio.transcriptions.create(model="tiny.en", file=audio, language="de")
    assert "English-only" in str(other.value) and "'base'" in str(other.value)
    with clips["de"].open("rb") as audio, pytest.raises(BadRequestError) as translated:
        client.audio.translations.create(model="tiny.en", file=audio)
    assert "cannot translate" in str(translated.value) and "'base'" in str(translated.value)


def test_the_catalogue_needs_the_key(asr) -> None:
    for path in ("/v1/models", "/v1/models/base"):
        answer = httpx.get(f"{asr.url}{path}")
        assert answer.status_code == 401 and answer.headers["content-type"] == "application/problem+json"


def test_the_openai_whisper_engine_runs_the_same_weights_converted(clips, tmp_path) -> None:
    from asr import transcribe
    from asr.engines.base import Options
    from asr.models import ModelManager
    from asr.settings import Settings

    manager = ModelManager(Settings(engine="openai-whisper", device="cpu", model_cache_dir=tmp_path))
    engine = manager.get(None)  # the default: base, joined and converted to an openai-whisper checkpoint
    assert (engine.name, engine.model, engine.multilingual) == ("openai-whisper", "base", True)
    assert [path.suffix for path in tmp_path.iterdir() if path.is_file()] == [".pt"]
    result = transcribe.run(
        engine, clips["es"], Options(task="translate", beam_size=5), chunk_seconds=120, max_seconds=600
    )
    assert result.language == "es" and "park" in result.text.lower(), result.text
