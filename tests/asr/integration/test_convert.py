"""The converted tiny.en runs in openai-whisper and hears what faster-whisper hears with the original."""

from __future__ import annotations

import base64
import gzip
import subprocess
import sys
from pathlib import Path
from typing import Any

import faster_whisper
import numpy as np
import pytest
import torch
import whisper

from asr.convert import convert
from asr.evaluation import normalise, word_error_rate
from asr.quantize import requantize
from tests.asr.conftest import Speech

MAX_WORD_ERROR_RATE = 0.15
TINY_EN_DIMS = {
    "n_mels": 80,
    "n_vocab": 51864,
    "n_audio_ctx": 1500,
    "n_audio_state": 384,
    "n_audio_head": 6,
    "n_audio_layer": 4,
    "n_text_ctx": 448,
    "n_text_state": 384,
    "n_text_head": 6,
    "n_text_layer": 4,
}
BEAM_SIZES = [5, 1]  # beam search as served, and greedy


def transcribe_openai(model: Any, audio: np.ndarray, beam_size: int) -> str:
    options = {"beam_size": beam_size} if beam_size > 1 else {}
    return str(model.transcribe(audio, temperature=0.0, fp16=False, **options)["text"])


def transcribe_faster(model: Any, audio: np.ndarray, beam_size: int) -> str:
    segments, _ = model.transcribe(audio, beam_size=beam_size, temperature=0.0)
    return "".join(segment.text for segment in segments)


def alignment_mask(dump: bytes, dims: dict[str, int]) -> np.ndarray:
    raw = gzip.decompress(base64.b85decode(dump))
    return np.frombuffer(raw, dtype=bool).reshape(dims["n_text_layer"], dims["n_text_head"])


@pytest.fixture(scope="module")
def audio(speech: Speech) -> np.ndarray:
    """The speech decoded once (openai-whisper's ffmpeg loader), fed as the same samples to both engines."""
    return np.asarray(whisper.load_audio(str(speech.path)), dtype=np.float32)


@pytest.fixture(scope="module")
def openai_model(converted_checkpoint: Path) -> Any:
    return whisper.load_model(str(converted_checkpoint), device="cpu")


@pytest.fixture(scope="module")
def faster_model(bundled_model_dir: Path) -> Any:
    return faster_whisper.WhisperModel(str(bundled_model_dir), device="cpu", compute_type="float32")


def test_checkpoint_has_tiny_en_dimensions_and_alignment_heads(converted_checkpoint: Path) -> None:
    checkpoint = torch.load(converted_checkpoint, weights_only=True)
    assert checkpoint["dims"] == TINY_EN_DIMS
    assert all(tensor.dtype == torch.float16 for tensor in checkpoint["model_state_dict"].values())
    official = alignment_mask(whisper._ALIGNMENT_HEADS["tiny.en"], TINY_EN_DIMS)
    np.testing.assert_array_equal(alignment_mask(checkpoint["alignment_heads"], TINY_EN_DIMS), official)


def test_state_dict_fills_every_parameter_of_openai_whisper(converted_checkpoint: Path, openai_model: Any) -> None:
    checkpoint = torch.load(converted_checkpoint, weights_only=True)
    assert set(checkpoint["model_state_dict"]) == set(openai_model.state_dict())


def test_encoder_output_matches_ctranslate2(audio: np.ndarray, openai_model: Any, faster_model: Any) -> None:
    import ctranslate2

    mel = whisper.log_mel_spectrogram(whisper.pad_or_trim(audio))[None]
    with torch.no_grad():
        ours = openai_model.encoder(mel).numpy()
    features = ctranslate2.StorageView.from_array(np.ascontiguousarray(mel.numpy()))
    theirs = np.array(faster_model.model.encode(features, to_cpu=True))
    np.testing.assert_allclose(ours, theirs, atol=5e-3)


@pytest.mark.parametrize("beam_size", BEAM_SIZES)
def test_converted_model_transcribes_speech_like_faster_whisper(
    speech: Speech, audio: np.ndarray, openai_model: Any, faster_model: Any, beam_size: int
) -> None:
    ours = transcribe_openai(openai_model, audio, beam_size)
    theirs = transcribe_faster(faster_model, audio, beam_size)
    assert word_error_rate(speech.text, ours) <= MAX_WORD_ERROR_RATE, ours
    assert normalise(ours) == normalise(theirs)


def test_int8_model_is_dequantized_and_transcribes_like_faster_whisper(
    bundled_model_dir: Path, speech: Speech, audio: np.ndarray, tmp_path: Path
) -> None:
    int8_dir = requantize(bundled_model_dir, tmp_path / "tiny.en-int8", "int8")
    checkpoint = convert(int8_dir, tmp_path / "tiny.en-int8.pt")
    ours = transcribe_openai(whisper.load_model(str(checkpoint), device="cpu"), audio, beam_size=5)
    faster = faster_whisper.WhisperModel(str(int8_dir), device="cpu", compute_type="int8_float32")
    assert word_error_rate(speech.text, ours) <= MAX_WORD_ERROR_RATE, ours
    assert normalise(ours) == normalise(transcribe_faster(faster, audio, beam_size=5))


def test_cli_writes_a_checkpoint_that_openai_whisper_loads(bundled_model_dir: Path, tmp_path: Path) -> None:
    output = tmp_path / "nested" / "tiny.en.pt"
    command = [sys.executable, "-m", "asr.convert", str(bundled_model_dir), str(output)]
    result = subprocess.run(command, cwd=Path(__file__).resolve().parents[3], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(output)
    assert whisper.load_model(str(output), device="cpu").dims.n_text_layer == TINY_EN_DIMS["n_text_layer"]
