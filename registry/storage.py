"""Where media bytes live. A local directory by default (a PVC in the cluster); the `Storage` protocol is
the seam for S3-compatible storage later. Uploads are staged to a local file while they stream in (to hash
and probe them), then handed to the storage under a key derived from their sha256."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

CHUNK_BYTES = 256 * 1024


class Storage(Protocol):
    def new_staging_file(self) -> tuple[int, Path]:
        """An open file descriptor and path on local disk for an upload being received."""

    def put_file(self, key: str, staged: Path) -> None:
        """Move a fully written staged file under `key` (atomic for readers)."""

    def exists(self, key: str) -> bool: ...

    def size(self, key: str) -> int: ...

    def read_chunks(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]: ...

    def local_path(self, key: str) -> Path | None:
        """A filesystem path for `key` when the backend has one (lets the server use sendfile)."""

    def delete(self, key: str) -> None: ...


def key_for(sha256: str) -> str:
    return f"sha256/{sha256[:2]}/{sha256}"


class LocalStorage:
    """Blobs as files under one root directory."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        (self.root / ".staging").mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root not in path.parents:
            raise ValueError(f"storage key escapes the root: {key!r}")
        return path

    def staging_dir(self) -> Path:
        return self.root / ".staging"

    def new_staging_file(self) -> tuple[int, Path]:
        fd, name = tempfile.mkstemp(dir=self.staging_dir(), prefix="upload-")
        return fd, Path(name)

    def put_file(self, key: str, staged: Path) -> None:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged, target)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def size(self, key: str) -> int:
        return self._path(key).stat().st_size

    def read_chunks(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        with self._path(key).open("rb") as handle:
            handle.seek(start)
            remaining = None if end is None else end - start
            while remaining is None or remaining > 0:
                chunk = handle.read(CHUNK_BYTES if remaining is None else min(CHUNK_BYTES, remaining))
                if not chunk:
                    return
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk

    def local_path(self, key: str) -> Path | None:
        return self._path(key)

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def clear_staging(self) -> None:
        shutil.rmtree(self.staging_dir(), ignore_errors=True)
        self.staging_dir().mkdir(parents=True, exist_ok=True)
