"""Pack small `model.bin` files byte for byte as CTranslate2's `ModelSpec._serialize` writes them."""

from __future__ import annotations

import struct

import numpy as np

TYPE_IDS = {"float32": 0, "int8": 1, "int16": 2, "int32": 3, "float16": 4}


def _string(text: str) -> bytes:
    raw = text.encode("utf-8")
    return struct.pack("<H", len(raw) + 1) + raw + b"\0"


def _variable(name: str, value: np.ndarray) -> bytes:
    header = _string(name) + struct.pack("<B", value.ndim) + b"".join(struct.pack("<I", dim) for dim in value.shape)
    return header + struct.pack("<BI", TYPE_IDS[value.dtype.name], value.nbytes) + value.tobytes()


def pack_model(
    variables: dict[str, np.ndarray],
    aliases: dict[str, str] | None = None,
    *,
    spec: str = "WhisperSpec",
    version: int = 6,
    revision: int = 3,
) -> bytes:
    """The bytes of a `model.bin` holding `variables` (in the given order) and `aliases`."""
    aliases = aliases or {}
    body = b"".join(_variable(name, value) for name, value in variables.items())
    alias_part = b"".join(_string(alias) + _string(target) for alias, target in aliases.items())
    header = struct.pack("<I", version) + _string(spec) + struct.pack("<II", revision, len(variables))
    return header + body + struct.pack("<I", len(aliases)) + alias_part
