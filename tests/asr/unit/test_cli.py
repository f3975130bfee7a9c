"""`python -m asr.convert` reports a bad input as one `error:` line on stderr and exits with code 2."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tests.asr.unit.model_bin import pack_model

REPOSITORY = Path(__file__).resolve().parents[3]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "asr.convert", *args]
    return subprocess.run(command, cwd=REPOSITORY, capture_output=True, text=True, timeout=120)


def not_whisper(folder: Path) -> Path:
    (folder / "model.bin").write_bytes(pack_model({"w": np.zeros(2, np.float32)}, spec="TransformerSpec"))
    return folder


def unknown_layout(folder: Path) -> Path:
    (folder / "model.bin").write_bytes(pack_model({"encoder/conv1/weight": np.zeros((4, 80, 3), np.float16)}))
    return folder


@pytest.mark.parametrize(
    ("make_input", "message"),
    [
        (lambda tmp: tmp / "missing", "is not a directory"),
        (lambda tmp: tmp, "is not a CTranslate2 model directory: it has no model.bin"),
        (not_whisper, "holds a TransformerSpec model, not a WhisperSpec"),
        (unknown_layout, "unknown variable layout: the model has no"),
    ],
    ids=["missing-directory", "empty-directory", "other-spec", "unknown-layout"],
)
def test_bad_input_is_one_error_line_and_exit_code_2(
    tmp_path: Path, make_input: Callable[[Path], Path], message: str
) -> None:
    output = tmp_path / "out" / "model.pt"
    result = run_cli(str(make_input(tmp_path)), str(output))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert message in lines[0]
    assert not output.exists()
