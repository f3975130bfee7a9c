"""Convert a CTranslate2 Whisper model directory (faster-whisper's format) to an openai-whisper checkpoint.

`python -m asr.convert MODEL_DIR OUTPUT.pt` reads `model.bin` with numpy alone (no ctranslate2), maps its
variables by name onto openai-whisper's `Whisper` state dict, splits the fused attention projections and
writes a `.pt` file that `whisper.load_model(path)` loads.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import typer

from asr.ct2 import MODEL_FILE, ConversionError, Ct2Model, Weights, load_weights, read_model_bin

CONFIG_FILE = "config.json"
SPEC_NAME = "WhisperSpec"
LAYER_PATTERN = re.compile(r"^(encoder|decoder)/layer_(\d+)/")
LAYER_NORM_PARTS = {"gamma": "weight", "beta": "bias"}
OUTPUT_DTYPES = {"float16": np.float16, "float32": np.float32}
# Settings of the decoder that openai-whisper hard-codes (GELU is 3 in CTranslate2's Activation enum).
DECODER_SETTINGS = {"decoder/activation": 3, "decoder/pre_norm": 1, "decoder/scale_embeddings": 0, "decoder/alibi": 0}
EXIT_BAD_INPUT = 2

OutputDtype = Literal["float16", "float32"]


class _Source:
    """The model's weights, handed out once each so that leftovers (an unknown layout) can be reported."""

    def __init__(self, weights: Weights) -> None:
        self.weights = weights
        self.unused = {name for name, values in weights.items() if values.ndim > 0}

    def take(self, name: str) -> np.ndarray:
        """The weight called `name`; a missing one means a layout this converter does not know."""
        if name not in self.weights:
            raise ConversionError(f"unknown variable layout: the model has no {name}")
        self.unused.discard(name)
        return self.weights[name]

    def scalar(self, name: str) -> int:
        """An integer hyper-parameter stored as a 0-d variable (e.g. `encoder/num_heads`)."""
        values = self.take(name)
        if values.ndim != 0:
            raise ConversionError(f"unknown variable layout: {name} should be a scalar, has shape {values.shape}")
        return int(values)


def _layer_count(weights: Weights, side: str) -> int:
    """How many `encoder/layer_N` or `decoder/layer_N` blocks the model has."""
    indices = {int(match[2]) for name in weights if (match := LAYER_PATTERN.match(name)) and match[1] == side}
    return max(indices) + 1 if indices else 0


def model_dimensions(weights: Weights) -> dict[str, int]:
    """openai-whisper's `ModelDimensions` read off the variables' shapes and the stored head counts."""
    source = _Source(weights)
    conv1 = source.take("encoder/conv1/weight")
    audio_positions = source.take("encoder/position_encodings/encodings")
    text_positions = source.take("decoder/position_encodings/encodings")
    return {
        "n_mels": conv1.shape[1],
        "n_audio_ctx": audio_positions.shape[0],
        "n_audio_state": audio_positions.shape[1],
        "n_audio_head": source.scalar("encoder/num_heads"),
        "n_audio_layer": _layer_count(weights, "encoder"),
        "n_vocab": source.take("decoder/embeddings/weight").shape[0],
        "n_text_ctx": text_positions.shape[0],
        "n_text_state": text_positions.shape[1],
        "n_text_head": source.scalar("decoder/num_heads"),
        "n_text_layer": _layer_count(weights, "decoder"),
    }


def _layer_norm(source: _Source, ct2: str, whisper: str) -> Iterator[tuple[str, np.ndarray]]:
    for ct2_part, whisper_part in LAYER_NORM_PARTS.items():
        yield f"{whisper}.{whisper_part}", source.take(f"{ct2}/{ct2_part}")


def _linear(source: _Source, ct2: str, whisper: str) -> Iterator[tuple[str, np.ndarray]]:
    yield f"{whisper}.weight", source.take(f"{ct2}/weight")
    yield f"{whisper}.bias", source.take(f"{ct2}/bias")


def _fused(source: _Source, ct2: str, whisper: list[str]) -> Iterator[tuple[str, np.ndarray]]:
    """Split a fused projection along its output rows; the key's bias is dropped (openai-whisper has none).

    A key bias adds the same amount to every score of a query, which the softmax cancels: dropping it is exact.
    """
    weights = np.split(source.take(f"{ct2}/weight"), len(whisper))
    biases = np.split(source.take(f"{ct2}/bias"), len(whisper))
    for prefix, weight, bias in zip(whisper, weights, biases, strict=True):
        yield f"{prefix}.weight", weight
        if not prefix.endswith(".key"):
            yield f"{prefix}.bias", bias


def _block(source: _Source, ct2: str, whisper: str, *, cross: bool) -> Iterator[tuple[str, np.ndarray]]:
    """One residual attention block: self-attention, cross-attention (decoder only), then the MLP."""
    attention = f"{ct2}/self_attention"
    yield from _layer_norm(source, f"{attention}/layer_norm", f"{whisper}.attn_ln")
    yield from _fused(source, f"{attention}/linear_0", [f"{whisper}.attn.{p}" for p in ("query", "key", "value")])
    yield from _linear(source, f"{attention}/linear_1", f"{whisper}.attn.out")
    if cross:
        yield from _layer_norm(source, f"{ct2}/attention/layer_norm", f"{whisper}.cross_attn_ln")
        yield from _linear(source, f"{ct2}/attention/linear_0", f"{whisper}.cross_attn.query")
        keys_values = [f"{whisper}.cross_attn.key", f"{whisper}.cross_attn.value"]
        yield from _fused(source, f"{ct2}/attention/linear_1", keys_values)
        yield from _linear(source, f"{ct2}/attention/linear_2", f"{whisper}.cross_attn.out")
    yield from _layer_norm(source, f"{ct2}/ffn/layer_norm", f"{whisper}.mlp_ln")
    yield from _linear(source, f"{ct2}/ffn/linear_0", f"{whisper}.mlp.0")
    yield from _linear(source, f"{ct2}/ffn/linear_1", f"{whisper}.mlp.2")


def _encoder(source: _Source, layers: int) -> Iterator[tuple[str, np.ndarray]]:
    yield from _linear(source, "encoder/conv1", "encoder.conv1")
    yield from _linear(source, "encoder/conv2", "encoder.conv2")
    yield "encoder.positional_embedding", source.take("encoder/position_encodings/encodings")
    for index in range(layers):
        yield from _block(source, f"encoder/layer_{index}", f"encoder.blocks.{index}", cross=False)
    yield from _layer_norm(source, "encoder/layer_norm", "encoder.ln_post")


def _decoder(source: _Source, layers: int) -> Iterator[tuple[str, np.ndarray]]:
    embeddings = source.take("decoder/embeddings/weight")
    yield "decoder.token_embedding.weight", embeddings
    yield "decoder.positional_embedding", source.take("decoder/position_encodings/encodings")
    for index in range(layers):
        yield from _block(source, f"decoder/layer_{index}", f"decoder.blocks.{index}", cross=True)
    yield from _layer_norm(source, "decoder/layer_norm", "decoder.ln")
    # openai-whisper computes logits with the token embedding: the output projection must be tied to it.
    if not np.array_equal(source.take("decoder/projection/weight"), embeddings):
        raise ConversionError("unknown variable layout: decoder/projection/weight differs from the token embedding")


def whisper_state_dict(weights: Weights, dims: dict[str, int]) -> Weights:
    """openai-whisper `Whisper` state dict entries (as float32 numpy arrays) from the CTranslate2 variables."""
    for name, expected in DECODER_SETTINGS.items():
        if name in weights and int(weights[name]) != expected:
            raise ConversionError(
                f"unknown variable layout: {name} is {int(weights[name])}, openai-whisper needs {expected}"
            )
    source = _Source(weights)
    state = dict(_encoder(source, dims["n_audio_layer"]))
    state.update(_decoder(source, dims["n_text_layer"]))
    if source.unused:
        raise ConversionError(f"unknown variable layout: no place for {', '.join(sorted(source.unused))}")
    return state


def alignment_heads_dump(heads: list[list[int]], n_layer: int, n_head: int) -> bytes:
    """Alignment heads `[[layer, head], ...]` in the form `Whisper.set_alignment_heads` takes."""
    mask = np.zeros((n_layer, n_head), dtype=bool)
    for pair in heads:
        if not (isinstance(pair, list) and len(pair) == 2 and 0 <= pair[0] < n_layer and 0 <= pair[1] < n_head):
            raise ConversionError(f"alignment head {pair} is not a [layer, head] of a {n_layer}x{n_head} decoder")
        mask[pair[0], pair[1]] = True
    return base64.b85encode(gzip.compress(mask.tobytes(), mtime=0))


def read_config(model_dir: Path) -> dict[str, Any]:
    """`config.json` of the model directory; none is fine (it only carries the alignment heads here)."""
    path = model_dir / CONFIG_FILE
    if not path.is_file():
        return {}
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ConversionError(f"{path} is not valid JSON: {error}") from None
    if not isinstance(config, dict):
        raise ConversionError(f"{path} is not a JSON object")
    return config


def read_model(model_dir: Path) -> Ct2Model:
    """The parsed `model.bin` of a CTranslate2 Whisper model directory."""
    model_file = model_dir / MODEL_FILE
    if not model_dir.is_dir():
        raise ConversionError(f"{model_dir} is not a directory")
    if not model_file.is_file():
        raise ConversionError(f"{model_dir} is not a CTranslate2 model directory: it has no {MODEL_FILE}")
    model = read_model_bin(model_file)
    if model.spec != SPEC_NAME:
        raise ConversionError(f"{model_file} holds a {model.spec or 'unnamed'} model, not a {SPEC_NAME}")
    return model


def build_checkpoint(model_dir: Path, *, dtype: OutputDtype = "float16") -> dict[str, Any]:
    """The checkpoint dict `whisper.load_model` reads: `dims` and `model_state_dict` (plus `alignment_heads`)."""
    weights = load_weights(read_model(model_dir))
    dims = model_dimensions(weights)
    state = whisper_state_dict(weights, dims)
    import torch  # only now: a bad input is reported without paying for torch's import

    output_dtype = OUTPUT_DTYPES[dtype]
    checkpoint: dict[str, Any] = {
        "dims": dims,
        "model_state_dict": {
            key: torch.from_numpy(np.array(value, dtype=output_dtype)) for key, value in state.items()
        },
    }
    heads = read_config(model_dir).get("alignment_heads")
    if heads:
        checkpoint["alignment_heads"] = alignment_heads_dump(heads, dims["n_text_layer"], dims["n_text_head"])
    return checkpoint


def convert(model_dir: Path, output: Path, *, dtype: OutputDtype = "float16") -> Path:
    """Convert the CTranslate2 Whisper model in `model_dir` to an openai-whisper checkpoint at `output`."""
    checkpoint = build_checkpoint(model_dir, dtype=dtype)
    import torch

    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".partial")
    torch.save(checkpoint, partial)
    partial.replace(output)
    return output


def _command(
    model_dir: Annotated[Path, typer.Argument(help="CTranslate2 Whisper model directory (with model.bin).")],
    output: Annotated[Path, typer.Argument(help="Path of the openai-whisper checkpoint (.pt) to write.")],
    float32: Annotated[bool, typer.Option("--float32", help="Store float32 weights (default: float16).")] = False,
) -> None:
    """Convert a faster-whisper (CTranslate2) Whisper model to an openai-whisper checkpoint."""
    written = convert(model_dir, output, dtype="float32" if float32 else "float16")
    print(written)


def main(argv: list[str] | None = None) -> None:
    """Command line entry point; a bad input is one `error: ...` line on stderr and exit code 2."""
    app = typer.Typer(add_completion=False)
    app.command()(_command)
    try:
        app(args=argv, prog_name="python -m asr.convert", standalone_mode=True)
    except (ConversionError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)


if __name__ == "__main__":
    main()
