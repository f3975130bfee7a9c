"""Re-save a CTranslate2 Whisper model with another quantization, through ctranslate2's own spec writer."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from asr.convert import model_dimensions, read_model
from asr.ct2 import load_weights

PROJECTION = "decoder/projection/weight"


def requantize(model_dir: Path, output_dir: Path, quantization: str) -> Path:
    """Write `model_dir`'s Whisper model to `output_dir` as CTranslate2 would after `--quantization`."""
    from ctranslate2.specs import model_spec, whisper_spec

    weights = load_weights(read_model(model_dir))
    dims = model_dimensions(weights)
    spec = whisper_spec.WhisperSpec(
        dims["n_audio_layer"], dims["n_audio_head"], dims["n_text_layer"], dims["n_text_head"]
    )
    for name, value in weights.items():
        if value.ndim > 0:
            scope, attribute = name.rsplit("/", 1)
            setattr(model_spec.index_spec(spec, scope), attribute, np.array(value))
    for key, value in json.loads((model_dir / "config.json").read_text()).items():
        setattr(spec.config, key, value)
    spec.register_vocabulary((model_dir / "vocabulary.txt").read_text(encoding="utf-8").splitlines())
    spec.register_file(str(model_dir / "tokenizer.json"))
    spec.validate()
    spec.optimize(quantization=quantization)
    output_dir.mkdir(parents=True, exist_ok=True)
    spec.save(str(output_dir))
    return output_dir
