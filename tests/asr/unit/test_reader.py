"""The `model.bin` reader on small files packed in the test: dtypes, dequantization, aliases, corruption."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from asr.convert import read_model
from asr.ct2 import ConversionError, load_weights, read_model_bin
from tests.asr.unit.model_bin import pack_model

EMBEDDING = np.array([[0.5, -1.0], [2.0, 0.25]], dtype=np.float16)


def write(tmp_path: Path, content: bytes) -> Path:
    path = tmp_path / "model.bin"
    path.write_bytes(content)
    return path


def test_reads_header_variables_and_aliases_as_written(tmp_path: Path) -> None:
    variables: dict[str, np.ndarray] = {
        "decoder/embeddings/weight": EMBEDDING,
        "decoder/num_heads": np.array(6, dtype=np.int16),
    }
    aliases = {"decoder/projection/weight": "decoder/embeddings/weight"}
    model = read_model_bin(write(tmp_path, pack_model(variables, aliases)))
    assert (model.spec, model.revision, model.binary_version) == ("WhisperSpec", 3, 6)
    assert list(model.variables) == list(variables)
    np.testing.assert_array_equal(model.variables["decoder/embeddings/weight"], EMBEDDING)
    assert model.variables["decoder/num_heads"].dtype == np.int16
    assert int(model.variables["decoder/num_heads"]) == 6
    assert model.aliases == aliases


def test_int8_rows_are_dequantized_with_their_scale_and_aliases_share_it(tmp_path: Path) -> None:
    weight = np.array([[64, -127], [10, 0]], dtype=np.int8)
    scale = np.array([128.0, 20.0], dtype=np.float32)
    variables: dict[str, np.ndarray] = {"decoder/embeddings/weight": weight, "decoder/embeddings/weight_scale": scale}
    aliases = {"decoder/projection/weight": "decoder/embeddings/weight"}
    weights = load_weights(read_model_bin(write(tmp_path, pack_model(variables, aliases))))
    expected = np.array([[0.5, -127 / 128], [0.5, 0.0]], dtype=np.float32)
    np.testing.assert_allclose(weights["decoder/embeddings/weight"], expected)
    np.testing.assert_allclose(weights["decoder/projection/weight"], expected)
    assert "decoder/embeddings/weight_scale" not in weights


def test_int16_uses_one_scale_for_the_whole_tensor(tmp_path: Path) -> None:
    variables: dict[str, np.ndarray] = {
        "w/weight": np.array([1024, -512], dtype=np.int16),
        "w/weight_scale": np.array(1024.0, dtype=np.float32),
    }
    weights = load_weights(read_model_bin(write(tmp_path, pack_model(variables))))
    np.testing.assert_allclose(weights["w/weight"], [1.0, -0.5])


def test_an_integer_weight_without_a_scale_is_refused(tmp_path: Path) -> None:
    model = read_model_bin(write(tmp_path, pack_model({"w/weight": np.ones((2, 2), dtype=np.int8)})))
    with pytest.raises(ConversionError, match="without a w/weight_scale"):
        load_weights(model)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "truncated: binary version"),
        (pack_model({}, version=99), "binary version 99"),
        (pack_model({"w": EMBEDDING})[:-6], "truncated: w at byte"),
        (pack_model({"w": EMBEDDING}) + b"\0\0", "2 unexpected bytes at the end"),
        (pack_model({"w": EMBEDDING}).replace(b"\x04\x08\x00\x00\x00", b"\x09\x08\x00\x00\x00"), "unknown dtype id 9"),
        (pack_model({"w": EMBEDDING}).replace(b"\x04\x08\x00\x00\x00", b"\x04\x06\x00\x00\x00"), "has shape"),
        (pack_model({"w": EMBEDDING}).replace(b"w\0", b"ww"), "not NUL-terminated"),
    ],
    ids=["empty", "future-version", "truncated", "trailing-bytes", "unknown-dtype", "size-mismatch", "bad-string"],
)
def test_corrupt_files_are_refused_with_a_clear_error(tmp_path: Path, content: bytes, message: str) -> None:
    with pytest.raises(ConversionError, match=message):
        read_model_bin(write(tmp_path, content))


def test_a_directory_without_model_bin_is_not_a_ctranslate2_model(tmp_path: Path) -> None:
    with pytest.raises(ConversionError, match="not a CTranslate2 model directory"):
        read_model(tmp_path)


def test_a_model_of_another_spec_is_refused(tmp_path: Path) -> None:
    write(tmp_path, pack_model({"w": EMBEDDING}, spec="TransformerSpec"))
    with pytest.raises(ConversionError, match="holds a TransformerSpec model, not a WhisperSpec"):
        read_model(tmp_path)
