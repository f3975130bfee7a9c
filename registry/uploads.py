"""Streaming multipart upload: the file part goes chunk by chunk to a staged file while it is hashed and
its size checked, so an upload is never held whole in memory; then it is probed for type and duration."""

from __future__ import annotations

import asyncio
import hashlib
import json
import mimetypes
import os
import shutil
import subprocess
import wave
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from python_multipart.multipart import MultipartParser, parse_options_header

from registry.errors import BadRequest, BodyTooLarge, InvalidRequest, TooLarge, UnsupportedMedia
from registry.inputs import text_problem
from registry.storage import Storage

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

FILE_FIELD = "file"
PROBE_TIMEOUT_SECONDS = 30
MEDIA_PREFIXES = ("audio/", "video/")
FLUSH_BYTES = 1 << 20  # the file part is written to disk in pieces up to this large (plus one network chunk)
MAX_FIELD_BYTES = 4096  # what the other form fields keep of their value


@dataclass
class StagedUpload:
    path: Path
    sha256: str
    size_bytes: int
    filename: str | None
    content_type: str
    fields: dict[str, str] = field(default_factory=dict)


@dataclass
class _FileState:
    size: int = 0
    seen: bool = False
    filename: str | None = None
    content_type: str | None = None
    complete: bool = False


@dataclass
class _PartState:
    headers: dict[bytes, bytes] = field(default_factory=dict)
    header_field: bytes = b""
    header_value: bytes = b""
    name: str | None = None
    filename: str | None = None
    content_type: str | None = None
    value: bytearray = field(default_factory=bytearray)


class _Receiver:
    """The multipart parser's callbacks over one upload: the `file` part hashed and size-checked as it arrives and
    held in `pending` until written to the staged file (off the event loop, `_flush`); the other fields kept, small."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.digest = hashlib.sha256()
        self.part = _PartState()
        self.file = _FileState()
        self.fields: dict[str, str] = {}
        self.errors: list[Exception] = []
        self.pending = bytearray()

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self.on_part_begin,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
            "on_end": self.on_end,  # the closing boundary: without it the body was cut short
        }

    def on_part_begin(self) -> None:
        self.part = _PartState()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.part.header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.part.header_value += data[start:end]

    def on_header_end(self) -> None:
        part = self.part
        part.headers[part.header_field.lower()] = part.header_value
        part.header_field, part.header_value = b"", b""

    def on_headers_finished(self) -> None:
        part, file = self.part, self.file
        _, disposition = parse_options_header(part.headers.get(b"content-disposition", b""))
        part.name = disposition.get(b"name", b"").decode("utf-8", "replace")
        raw_filename = disposition.get(b"filename")
        part.filename = raw_filename.decode("utf-8", "replace") if raw_filename is not None else None
        part.content_type = part.headers.get(b"content-type", b"").decode("latin-1") or None
        if part.name != FILE_FIELD:
            return
        if file.seen:
            self.errors.append(InvalidRequest("Send exactly one 'file' part."))
        file.seen = True
        file.filename = os.path.basename(part.filename) if part.filename else None
        if file.filename is not None and (problem := text_problem(file.filename)) is not None:
            self.errors.append(InvalidRequest(f"The file name cannot be stored: {problem}."))
        file.content_type = part.content_type

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self.part.name == FILE_FIELD:
            self.file.size += len(chunk)
            if self.file.size > self.max_bytes:
                self.errors.append(TooLarge(f"The file exceeds {self.max_bytes} bytes."))
                return
            self.digest.update(chunk)
            self.pending += chunk
        elif len(self.part.value) + len(chunk) <= MAX_FIELD_BYTES:
            self.part.value.extend(chunk)

    def on_part_end(self) -> None:
        if self.part.name and self.part.name != FILE_FIELD:
            self.fields[self.part.name] = self.part.value.decode("utf-8", "replace")

    def on_end(self) -> None:
        self.file.complete = True

    def raise_first_error(self) -> None:
        if self.errors:
            raise self.errors[0]

    def check_complete(self) -> None:
        """The body ended: it had its closing boundary and one non-empty `file` part."""
        if not self.file.complete:
            raise BadRequest("The multipart body ends before its closing boundary: the upload is incomplete.")
        if not self.file.seen:
            raise InvalidRequest("The form has no 'file' part.")
        if self.file.size == 0:
            raise InvalidRequest("The uploaded file is empty.")

    def staged(self, path: Path) -> StagedUpload:
        file = self.file
        return StagedUpload(
            path, self.digest.hexdigest(), file.size, file.filename, file.content_type or "", self.fields
        )


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


async def _flush(fd: int, pending: bytearray) -> None:
    """Write what is pending to the staged file in a worker thread (a disk write never stalls the event loop)."""
    if pending:
        data = bytes(pending)
        pending.clear()
        await asyncio.to_thread(_write_all, fd, data)


def _boundary(content_type: str) -> bytes:
    kind, options = parse_options_header(content_type.encode("latin-1"))
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise UnsupportedMedia("Upload media as multipart/form-data with a 'file' part.")
    return bytes(boundary)


async def receive_file(
    stream: AsyncIterator[bytes], *, content_type: str, storage: Storage, max_bytes: int
) -> StagedUpload:
    """Parse a multipart/form-data body whose `file` part is streamed to a staged file (in memory at most
    FLUSH_BYTES of it, plus one network chunk)."""
    boundary = _boundary(content_type)
    fd, staged = storage.new_staging_file()
    receiver = _Receiver(max_bytes)
    parser = MultipartParser(boundary, receiver.callbacks())
    try:
        async for chunk in stream:
            parser.write(chunk)
            receiver.raise_first_error()
            if len(receiver.pending) >= FLUSH_BYTES:
                await _flush(fd, receiver.pending)
        parser.finalize()
        receiver.raise_first_error()
        await _flush(fd, receiver.pending)
        receiver.check_complete()
    except Exception as error:
        os.close(fd)
        staged.unlink(missing_ok=True)
        if isinstance(error, InvalidRequest | TooLarge | UnsupportedMedia | BadRequest | BodyTooLarge):
            raise
        raise BadRequest(f"The multipart body could not be parsed: {error or type(error).__name__}") from error
    os.close(fd)
    return receiver.staged(staged)


@dataclass(frozen=True)
class MediaInfo:
    content_type: str
    duration_seconds: float | None


def _ffprobe(path: Path) -> dict[str, Any] | None:
    if shutil.which("ffprobe") is None:
        return None
    result = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams", str(path)],
        capture_output=True,
        text=True,
        timeout=PROBE_TIMEOUT_SECONDS,
        check=False,
    )
    if result.returncode != 0:
        return {}
    parsed: dict[str, Any] = json.loads(result.stdout or "{}")
    return parsed


def _wav_duration(path: Path) -> float | None:
    try:
        with wave.open(str(path), "rb") as handle:
            return handle.getnframes() / float(handle.getframerate())
    except (wave.Error, EOFError, ZeroDivisionError):
        return None


def probe(path: Path, *, declared_type: str, filename: str | None) -> MediaInfo:
    """Content type and duration of a staged upload; 415 when it is not audio or video."""
    content_type = declared_type.split(";")[0].strip().lower()
    if not content_type.startswith(MEDIA_PREFIXES):
        guessed = mimetypes.guess_type(filename or "")[0] or ""
        content_type = guessed if guessed.startswith(MEDIA_PREFIXES) else content_type
    probed = _ffprobe(path)
    if probed is not None:
        streams = probed.get("streams") or []
        if not any(isinstance(s, dict) and s.get("codec_type") == "audio" for s in streams):
            raise UnsupportedMedia("The file has no audio stream that ffprobe can read.")
        duration = (probed.get("format") or {}).get("duration")
        if not content_type.startswith(MEDIA_PREFIXES):
            has_video = any(isinstance(s, dict) and s.get("codec_type") == "video" for s in streams)
            content_type = "video/unknown" if has_video else "audio/unknown"
        return MediaInfo(content_type, float(duration) if duration else None)
    if not content_type.startswith(MEDIA_PREFIXES):
        raise UnsupportedMedia(f"'{declared_type or 'no content type'}' is not an audio or video type.")
    return MediaInfo(content_type, _wav_duration(path))


async def probe_async(path: Path, *, declared_type: str, filename: str | None) -> MediaInfo:
    return await asyncio.to_thread(probe, path, declared_type=declared_type, filename=filename)
