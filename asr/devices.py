"""Which device a model runs on: `auto` takes a GPU (CUDA) when there is one and falls back to CPU by itself."""

from __future__ import annotations

import logging

from asr import metrics
from asr.errors import DeviceUnavailable
from asr.settings import EngineName
from dhg_core.vocabulary import Device, DeviceChoice

log = logging.getLogger("asr.devices")


def cuda_available(engine: EngineName) -> bool:
    """Whether `engine`'s library sees a usable CUDA device."""
    try:
        if engine == "faster-whisper":
            import ctranslate2

            return bool(ctranslate2.get_cuda_device_count() > 0)
        import torch

        return bool(torch.cuda.is_available())
    except (ImportError, RuntimeError, OSError):
        return False


def choose(requested: DeviceChoice, engine: EngineName, *, has_cuda: bool | None = None) -> Device:
    """'gpu' or 'cpu' for `requested`; `gpu` without CUDA is an error, `auto` falls back (logged, counted)."""
    available = cuda_available(engine) if has_cuda is None else has_cuda
    if requested == "cpu":
        return "cpu"
    if available:
        return "gpu"
    if requested == "gpu":
        raise DeviceUnavailable(f"device 'gpu' was asked for, but {engine} finds no CUDA device")
    log.warning("no CUDA device: falling back to CPU", extra={"engine": engine})
    metrics.DEVICE_FALLBACKS.labels(engine).inc()
    return "cpu"


def torch_name(device: Device) -> str:
    """The name CTranslate2 and PyTorch give `device`."""
    return "cuda" if device == "gpu" else "cpu"
