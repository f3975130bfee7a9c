"""The GE2E speaker encoder that ships inside the `resemblyzer` wheel (Apache-2.0: a 3-layer LSTM over 40 mel bands,
256-d embeddings), run in NumPy: its weights are read from the wheel's `pretrained.pt` without torch, librosa or
webrtcvad (resemblyzer's own code needs all three; torch alone is gigabytes in an image), so `pip install --no-deps
resemblyzer==0.1.4` is all the speaker model asks for. Windows are embedded in one batch per LSTM step."""

from __future__ import annotations

import importlib.util
import pickle
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from numpy.typing import NDArray

SAMPLE_RATE = 16_000
MEL_BANDS = 40
WINDOW_SAMPLES = 400  # 25 ms
HOP_SAMPLES = 160  # 10 ms
PARTIAL_FRAMES = 160  # one embedding per 1.6 s of audio, as the encoder was trained
LAYERS = 3
HIDDEN = 256
BATCH = 256  # windows per LSTM pass: bounds the memory of a long file
WEIGHTS_PACKAGE = "resemblyzer"
WEIGHTS_FILE = "pretrained.pt"
_ELEMENT: dict[str, type[np.generic]] = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
}

Floats = NDArray[np.float32]


class EncoderMissing(RuntimeError):
    """The resemblyzer wheel (which carries the weights) is not installed."""


def weights_path() -> Path:
    """Where the installed resemblyzer wheel keeps its encoder (found without importing the package)."""
    spec = importlib.util.find_spec(WEIGHTS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise EncoderMissing(
            "speaker diarization needs the GE2E encoder of the resemblyzer wheel: "
            "pip install --no-deps resemblyzer==0.1.4"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / WEIGHTS_FILE
    if not path.is_file():
        raise EncoderMissing(f"{path} is missing: reinstall resemblyzer==0.1.4")
    return path


# ---- torch's legacy (pre-zip) serialization, read with an allow-list of the few globals it names ----


@dataclass
class _Storage:
    key: str
    dtype: type[np.generic]
    data: NDArray[Any] | None = None


@dataclass
class _TensorRef:
    storage: _Storage
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]

    def array(self) -> NDArray[Any]:
        assert self.storage.data is not None
        data = self.storage.data
        item = data.itemsize
        return np.lib.stride_tricks.as_strided(
            data[self.offset :], shape=self.size, strides=tuple(s * item for s in self.stride)
        ).copy()


class _StorageType:
    def __init__(self, name: str) -> None:
        self.name = name


def _rebuild_tensor(storage: _Storage, offset: int, size: tuple[int, ...], stride: tuple[int, ...], *_: Any) -> Any:
    return _TensorRef(storage, offset, tuple(size), tuple(stride))


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: BinaryIO) -> None:
        super().__init__(file)
        self.storages: dict[str, _Storage] = {}

    def find_class(self, module: str, name: str) -> Any:
        if module == "collections" and name == "OrderedDict":
            return OrderedDict
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return _rebuild_tensor
        if module == "torch" and name in _ELEMENT:
            return _StorageType(name)
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a speaker model file")

    def persistent_load(self, pid: Any) -> Any:
        kind, storage_type, key, _location, _size = pid[:5]
        if kind != "storage" or not isinstance(storage_type, _StorageType):
            raise pickle.UnpicklingError(f"unexpected persistent id {pid[:2]!r}")
        if key not in self.storages:
            self.storages[key] = _Storage(key, _ELEMENT[storage_type.name])
        return self.storages[key]


def read_state(path: Path) -> dict[str, NDArray[Any]]:
    """The `model_state` tensors of a checkpoint saved by torch's legacy serializer, as NumPy arrays."""
    with path.open("rb") as file:
        for _ in range(3):  # magic number, protocol version, system info
            pickle.load(file)  # noqa: S301 (plain numbers and a dict of sizes: no global can be named here)
        unpickler = _Unpickler(file)
        checkpoint = unpickler.load()
        keys = pickle.load(file)  # noqa: S301 (a list of strings)
        for key in keys:
            storage = unpickler.storages[key]
            count = int.from_bytes(file.read(8), "little")
            itemsize = np.dtype(storage.dtype).itemsize
            storage.data = np.frombuffer(file.read(count * itemsize), dtype=storage.dtype)
    return {name: ref.array() for name, ref in checkpoint["model_state"].items() if isinstance(ref, _TensorRef)}


# ---- the features: librosa.feature.melspectrogram's power mel spectrogram (Slaney mel scale and norm) ----


def _hz_to_mel(hz: NDArray[np.float64]) -> NDArray[np.float64]:
    linear = hz / (200.0 / 3)
    log_step = np.log(6.4) / 27.0
    return np.where(hz >= 1000.0, 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / log_step, linear)


def _mel_to_hz(mel: NDArray[np.float64]) -> NDArray[np.float64]:
    log_step = np.log(6.4) / 27.0
    return np.where(mel >= 15.0, 1000.0 * np.exp(log_step * (mel - 15.0)), mel * (200.0 / 3))


def mel_filters(sample_rate: int = SAMPLE_RATE, n_fft: int = WINDOW_SAMPLES, bands: int = MEL_BANDS) -> Floats:
    bins = np.linspace(0, sample_rate / 2, 1 + n_fft // 2)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(np.array(0.0)), _hz_to_mel(np.array(sample_rate / 2)), bands + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - bins[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper)) * (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return weights.astype(np.float32)


_FILTERS = mel_filters()
_WINDOW = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(WINDOW_SAMPLES) / WINDOW_SAMPLES)).astype(np.float32)


def mel_frames(audio: Floats) -> Floats:
    """(frames, 40) power mel spectrogram of 16 kHz audio, one frame per 10 ms, centred as librosa centres."""
    padded = np.pad(audio.astype(np.float32, copy=False), WINDOW_SAMPLES // 2)
    count = 1 + max(0, len(padded) - WINDOW_SAMPLES) // HOP_SAMPLES
    frames = np.lib.stride_tricks.as_strided(
        padded, shape=(count, WINDOW_SAMPLES), strides=(padded.strides[0] * HOP_SAMPLES, padded.strides[0])
    )
    power = np.abs(np.fft.rfft(frames * _WINDOW, axis=1)) ** 2
    return (power.astype(np.float32) @ _FILTERS.T).astype(np.float32)


class VoiceEncoder:
    """256-d, L2-normed speaker embeddings of 1.6 s mel windows."""

    def __init__(self, path: Path | None = None) -> None:
        state = read_state(path or weights_path())
        # torch orders the gates i, f, g, o; here i, f, o, g, with the sigmoid gates' rows halved, so that one tanh
        # over all four gives tanh(x/2) for i, f, o (sigmoid(x) = (tanh(x/2) + 1) / 2) and tanh(g) for g.
        order = np.r_[0:HIDDEN, HIDDEN : 2 * HIDDEN, 3 * HIDDEN : 4 * HIDDEN, 2 * HIDDEN : 3 * HIDDEN]
        scale = np.r_[np.full(3 * HIDDEN, 0.5), np.ones(HIDDEN)].astype(np.float32)
        self.layers = [
            (
                (state[f"lstm.weight_ih_l{n}"][order] * scale[:, None]).T.astype(np.float32),
                (state[f"lstm.weight_hh_l{n}"][order] * scale[:, None]).T.astype(np.float32),
                ((state[f"lstm.bias_ih_l{n}"] + state[f"lstm.bias_hh_l{n}"])[order] * scale).astype(np.float32),
            )
            for n in range(LAYERS)
        ]
        self.projection = state["linear.weight"].T.astype(np.float32)
        self.projection_bias = state["linear.bias"].astype(np.float32)

    def embed_mels(self, mels: Floats) -> Floats:
        """(windows, frames, 40) → (windows, 256)."""
        out = [self._embed_batch(mels[start : start + BATCH]) for start in range(0, len(mels), BATCH)]
        return np.concatenate(out) if out else np.zeros((0, HIDDEN), np.float32)

    def _embed_batch(self, mels: Floats) -> Floats:
        """Each step computes [input, hidden] @ [W_ih; W_hh] at once, in buffers made once per layer."""
        sequence = np.ascontiguousarray(mels.transpose(1, 0, 2))  # time-major: each step's rows are contiguous
        steps, count, width = sequence.shape
        for input_weights, hidden_weights, bias in self.layers:
            weights = np.vstack([input_weights, hidden_weights])
            step_input = np.zeros((count, width + HIDDEN), np.float32)  # [x_t, h_{t-1}]
            outputs = np.empty((steps, count, HIDDEN), np.float32)
            cell = np.zeros((count, HIDDEN), np.float32)
            gates = np.empty((count, 4 * HIDDEN), np.float32)
            for step in range(steps):
                step_input[:, :width] = sequence[step]
                np.matmul(step_input, weights, out=gates)
                gates += bias
                np.tanh(gates, out=gates)
                sigmoids = gates[:, : 3 * HIDDEN]
                sigmoids *= 0.5
                sigmoids += 0.5
                cell *= gates[:, HIDDEN : 2 * HIDDEN]
                cell += gates[:, :HIDDEN] * gates[:, 3 * HIDDEN :]
                np.multiply(gates[:, 2 * HIDDEN : 3 * HIDDEN], np.tanh(cell), out=outputs[step])
                step_input[:, width:] = outputs[step]
            sequence, width = outputs, HIDDEN
        raw: Floats = np.maximum(sequence[-1] @ self.projection + self.projection_bias, 0).astype(np.float32)
        normed: Floats = raw / np.maximum(np.linalg.norm(raw, axis=1, keepdims=True), 1e-9)
        return normed

    def embed_windows(self, audio: Floats, windows: list[tuple[int, int]]) -> Floats:
        """One embedding per (first frame, frames) window of `audio`, at most 1.6 s each: a shorter one is padded with
        silence before it (the LSTM's last state, the embedding, is then all speech)."""
        if not windows:
            return np.zeros((0, HIDDEN), np.float32)
        mels = mel_frames(audio)
        batch = np.zeros((len(windows), PARTIAL_FRAMES, MEL_BANDS), np.float32)
        for row, (start, length) in enumerate(windows):
            piece = mels[start : start + min(length, PARTIAL_FRAMES)]
            batch[row, PARTIAL_FRAMES - len(piece) :] = piece
        return self.embed_mels(batch)

    def embed_utterance(self, audio: Floats) -> Floats:
        """One embedding for a whole clip (a known speaker's reference): the normed mean of its windows."""
        frames = max(1, len(audio) // HOP_SAMPLES)
        step = PARTIAL_FRAMES // 2
        starts = list(range(0, max(1, frames - PARTIAL_FRAMES + 1), step)) or [0]
        mean: Floats = self.embed_windows(audio, [(start, PARTIAL_FRAMES) for start in starts]).mean(axis=0)
        normed: Floats = mean / max(float(np.linalg.norm(mean)), 1e-9)
        return normed
