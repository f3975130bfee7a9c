"""The name mapping from tiny.en's CTranslate2 variables onto openai-whisper's state dict keys."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from asr.convert import model_dimensions, read_model, whisper_state_dict
from asr.ct2 import ConversionError, Weights, load_weights


@pytest.fixture(scope="module")
def weights(bundled_model_dir: Path) -> Weights:
    return load_weights(read_model(bundled_model_dir))


def test_fused_self_attention_is_split_into_query_key_and_value(weights: Weights) -> None:
    state = whisper_state_dict(weights, model_dimensions(weights))
    fused = weights["decoder/layer_2/self_attention/linear_0/weight"]
    query, key, value = (state[f"decoder.blocks.2.attn.{part}.weight"] for part in ("query", "key", "value"))
    np.testing.assert_array_equal(np.concatenate([query, key, value]), fused)
    assert "decoder.blocks.2.attn.key.bias" not in state
    np.testing.assert_array_equal(
        state["decoder.blocks.2.attn.value.bias"], weights["decoder/layer_2/self_attention/linear_0/bias"][768:]
    )


def test_fused_cross_attention_is_split_into_key_and_value(weights: Weights) -> None:
    state = whisper_state_dict(weights, model_dimensions(weights))
    fused = weights["decoder/layer_1/attention/linear_1/weight"]
    key, value = state["decoder.blocks.1.cross_attn.key.weight"], state["decoder.blocks.1.cross_attn.value.weight"]
    np.testing.assert_array_equal(np.concatenate([key, value]), fused)
    assert "decoder.blocks.1.cross_attn.key.bias" not in state


def test_a_variable_with_no_place_in_openai_whisper_is_an_unknown_layout(weights: Weights) -> None:
    extended = {**weights, "decoder/layer_0/adapter/weight": np.zeros((4, 4), np.float32)}
    with pytest.raises(ConversionError, match="unknown variable layout: no place for decoder/layer_0/adapter/weight"):
        whisper_state_dict(extended, model_dimensions(extended))


def test_a_missing_variable_is_an_unknown_layout(weights: Weights) -> None:
    reduced = {name: values for name, values in weights.items() if name != "encoder/layer_1/ffn/linear_0/bias"}
    with pytest.raises(ConversionError, match="the model has no encoder/layer_1/ffn/linear_0/bias"):
        whisper_state_dict(reduced, model_dimensions(reduced))


def test_an_output_projection_untied_from_the_embedding_is_refused(weights: Weights) -> None:
    untied = {**weights, "decoder/projection/weight": weights["decoder/embeddings/weight"] * 2}
    with pytest.raises(ConversionError, match="projection/weight differs from the token embedding"):
        whisper_state_dict(untied, model_dimensions(untied))


def test_a_decoder_setting_openai_whisper_does_not_have_is_refused(weights: Weights) -> None:
    relu = {**weights, "decoder/activation": np.array(0, np.int8)}
    with pytest.raises(ConversionError, match="decoder/activation is 0, openai-whisper needs 3"):
        whisper_state_dict(relu, model_dimensions(relu))
