"""Read CTranslate2's `model.bin` (the format faster-whisper models are stored in) with numpy alone.

The layout follows `ModelSpec._serialize` in ctranslate2/specs/model_spec.py: a header, then each variable
(name, shape, dtype id, bytes), then aliases. Quantised variables are dequantised with their scales.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MODEL_FILE = "model.bin"
# Binary versions 4 to 6 store an explicit dtype id per variable; earlier ones guessed it from the item size.
SUPPORTED_BINARY_VERSIONS = range(4, 7)
# Type ids in the order of CTranslate2's DataType enum (`_dtype_to_type_id` in ctranslate2/specs/model_spec.py).
DTYPE_NAMES = ("float32", "int8", "int16", "int32", "float16", "bfloat16")
STORAGE_DTYPES = {"bfloat16": np.dtype("<u2")}
SCALE_SUFFIX = "_scale"

Weights = dict[str, np.ndarray]


class ConversionError(ValueError):
    """The input is not a CTranslate2 Whisper model this converter understands."""


@dataclass(frozen=True)
class Ct2Model:
    """The raw content of a `model.bin`: spec name and revision, variables as stored, and aliases."""

    spec: str
    revision: int
    binary_version: int
    variables: Weights
    aliases: dict[str, str]


class _Cursor:
    """Sequential little-endian reads over a memory-mapped file, with errors that name the offset."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.buffer = np.memmap(path, dtype=np.uint8, mode="r") if path.stat().st_size else np.zeros(0, np.uint8)
        self.offset = 0

    def _need(self, size: int, what: str) -> None:
        if self.offset + size > len(self.buffer):
            raise ConversionError(f"{self.path} is truncated: {what} at byte {self.offset} runs past the end")

    def scalar(self, fmt: str, what: str) -> int:
        """Read one packed integer (`I`, `H` or `B`)."""
        size = struct.calcsize("<" + fmt)
        self._need(size, what)
        (value,) = struct.unpack("<" + fmt, self.buffer[self.offset : self.offset + size].tobytes())
        self.offset += size
        return int(value)

    def string(self, what: str) -> str:
        """Read a uint16 length, then that many bytes that end with a NUL."""
        length = self.scalar("H", what)
        self._need(length, what)
        raw = bytes(self.buffer[self.offset : self.offset + length])
        self.offset += length
        if not raw.endswith(b"\0"):
            raise ConversionError(
                f"{self.path} is corrupt: {what} at byte {self.offset - length} is not NUL-terminated"
            )
        try:
            return raw[:-1].decode("utf-8")
        except UnicodeDecodeError:
            raise ConversionError(f"{self.path} is corrupt: {what} is not UTF-8") from None

    def array(self, dtype: np.dtype, shape: tuple[int, ...], num_bytes: int, name: str) -> np.ndarray:
        """A read-only view of the next `num_bytes` bytes as an array of `shape`."""
        count = int(np.prod(shape, dtype=np.int64))
        if count * dtype.itemsize != num_bytes:
            raise ConversionError(f"{self.path} is corrupt: {name} has shape {shape} but {num_bytes} bytes")
        self._need(num_bytes, name)
        values = np.frombuffer(self.buffer, dtype=dtype, count=count, offset=self.offset).reshape(shape)
        self.offset += num_bytes
        return values


def read_model_bin(path: Path) -> Ct2Model:
    """Parse a CTranslate2 `model.bin` (the layout written by `ModelSpec._serialize`) without loading it all."""
    cursor = _Cursor(path)
    version = cursor.scalar("I", "binary version")
    if version not in SUPPORTED_BINARY_VERSIONS:
        known = f"{SUPPORTED_BINARY_VERSIONS.start}-{SUPPORTED_BINARY_VERSIONS.stop - 1}"
        raise ConversionError(f"{path} has binary version {version}; this reader knows CTranslate2 versions {known}")
    spec = cursor.string("spec name")
    revision = cursor.scalar("I", "spec revision")
    variables = dict(_read_variable(cursor) for _ in range(cursor.scalar("I", "variable count")))
    aliases = {cursor.string("alias"): cursor.string("alias target") for _ in range(cursor.scalar("I", "alias count"))}
    if cursor.offset != len(cursor.buffer):
        raise ConversionError(f"{path} is corrupt: {len(cursor.buffer) - cursor.offset} unexpected bytes at the end")
    return Ct2Model(spec, revision, version, variables, aliases)


def _read_variable(cursor: _Cursor) -> tuple[str, np.ndarray]:
    """One variable: name, rank, dimensions, dtype id, byte count, then the raw row-major bytes."""
    name = cursor.string("variable name")
    shape = tuple(cursor.scalar("I", f"{name} shape") for _ in range(cursor.scalar("B", f"{name} rank")))
    type_id = cursor.scalar("B", f"{name} dtype")
    if type_id >= len(DTYPE_NAMES):
        raise ConversionError(f"{cursor.path} is corrupt: {name} has unknown dtype id {type_id}")
    dtype_name = DTYPE_NAMES[type_id]
    dtype = STORAGE_DTYPES[dtype_name] if dtype_name in STORAGE_DTYPES else np.dtype(dtype_name).newbyteorder("<")
    values = cursor.array(dtype, shape, cursor.scalar("I", f"{name} byte count"), name)
    if dtype_name == "bfloat16":
        values = (values.astype(np.uint32) << 16).view(np.float32)
    return name, values


def load_weights(model: Ct2Model) -> Weights:
    """Variables by name as float32 (int8/int16 dequantized with their `_scale`), aliases resolved."""
    stored = model.variables
    weights: Weights = {}
    for name, values in stored.items():
        if name.endswith(SCALE_SUFFIX) and name.removesuffix(SCALE_SUFFIX) in stored:
            continue
        weights[name] = values if values.ndim == 0 else _dequantize(name, values, stored.get(name + SCALE_SUFFIX))
    # CTranslate2 aliases before it quantizes: an alias shares its target's scale, hence resolving after.
    for alias, target in model.aliases.items():
        if target not in weights:
            raise ConversionError(f"alias {alias} points to {target}, which the model does not have")
        weights[alias] = weights[target]
    return weights


def _dequantize(name: str, values: np.ndarray, scale: np.ndarray | None) -> np.ndarray:
    """CTranslate2 quantizes as `round(w * scale)` with one scale per output row (int8) or per tensor (int16)."""
    if scale is None:
        if values.dtype.kind != "f":
            raise ConversionError(f"{name} is {values.dtype} without a {name}{SCALE_SUFFIX} to dequantize it")
        return values.astype(np.float32)
    if scale.size not in (1, values.shape[0]):
        raise ConversionError(f"{name}{SCALE_SUFFIX} has {scale.size} scales for {values.shape[0]} rows")
    per_row = scale.reshape((-1,) + (1,) * (values.ndim - 1)) if scale.ndim else scale
    return values.astype(np.float32) / per_row.astype(np.float32)
