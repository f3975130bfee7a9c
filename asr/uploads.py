"""An uploaded file as the service sees it (no web framework here): checked, spooled to disk, discarded."""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import anyio

from asr.errors import EmptyAudio, TooLarge
from asr.settings import Settings

COPY_BUFFER_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Upload:
    """The uploaded bytes and their size when the client stated it."""

    file: BinaryIO
    size: int | None


def check(upload: Upload, settings: Settings) -> None:
    """Refuse an upload that is too large or empty before any work is queued for it."""
    if upload.size is not None and upload.size > settings.max_upload_bytes:
        raise TooLarge(f"the file is larger than {settings.max_upload_bytes} bytes")
    if upload.size == 0:
        raise EmptyAudio("the uploaded file is empty")


async def spool(upload: Upload, settings: Settings, job_id: uuid.UUID) -> Path:
    """Copy the upload to the spool dir: it must outlive the request (async jobs, streams)."""
    settings.spool_dir.mkdir(parents=True, exist_ok=True)
    path = settings.spool_dir / f"{job_id}.audio"

    def copy() -> None:
        upload.file.seek(0)
        with path.open("wb") as out:
            shutil.copyfileobj(upload.file, out, COPY_BUFFER_BYTES)

    await anyio.to_thread.run_sync(copy)
    return path


def discard(path: Path) -> None:
    """Remove spooled audio once decoded (a metadata-only operation: no need for a thread)."""
    path.unlink(missing_ok=True)
