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
from typing import Any

from python_multipart.multipart import MultipartParser, parse_options_header

from registry.errors import BadRequest, BodyTooLarge, InvalidRequest, TooLarge, UnsupportedMedia
from registry.inputs import text_problem
from registry.storage import Storage

FILE_FIELD = "file"
PROBE_TIMEOUT_SECONDS = 30
MEDIA_PREFIXES = ("audio/", "video/")


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


async def receive_file(
    stream: AsyncIterator[bytes], *, content_type: str, storage: Storage, max_bytes: int
) -> StagedUpload:
    """Parse a multipart/form-data body whose `file` part is streamed to a staged file."""
    kind, options = parse_options_header(content_type.encode("latin-1"))
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise UnsupportedMedia("Upload media as multipart/form-data with a 'file' part.")
    fd, staged = storage.new_staging_file()
    digest = hashlib.sha256()
    part = _PartState()
    result = _FileState()
    fields: dict[str, str] = {}
    errors: list[Exception] = []

    def on_part_begin() -> None:
        nonlocal part
        part = _PartState()

    def on_header_field(data: bytes, start: int, end: int) -> None:
        part.header_field += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        part.header_value += data[start:end]

    def on_header_end() -> None:
        part.headers[part.header_field.lower()] = part.header_value
        part.header_field, part.header_value = b"", b""

    def on_headers_finished() -> None:
        _, disposition = parse_options_header(part.headers.get(b"content-disposition", b""))
        part.name = disposition.get(b"name", b"").decode("utf-8", "replace")
        raw_filename = disposition.get(b"filename")
        part.filename = raw_filename.decode("utf-8", "replace") if raw_filename is not None else None
        part.content_type = part.headers.get(b"content-type", b"").decode("latin-1") or None
        if part.name == FILE_FIELD:
            if result.seen:
                errors.append(InvalidRequest("Send exactly one 'file' part."))
            result.seen = True
            result.filename = os.path.basename(part.filename) if part.filename else None
            if result.filename is not None and (problem := text_problem(result.filename)) is not None:
                errors.append(InvalidRequest(f"The file name cannot be stored: {problem}."))
            result.content_type = part.content_type

    def on_part_data(data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if part.name == FILE_FIELD:
            result.size += len(chunk)
            if result.size > max_bytes:
                errors.append(TooLarge(f"The file exceeds {max_bytes} bytes."))
                return
            digest.update(chunk)
            os.write(fd, chunk)
        elif len(part.value) + len(chunk) <= 4096:
            part.value.extend(chunk)

    def on_part_end() -> None:
        if part.name and part.name != FILE_FIELD:
            fields[part.name] = part.value.decode("utf-8", "replace")

    def on_end() -> None:
        result.complete = True

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
            "on_end": on_end,  # the closing boundary: without it the body was cut short
        },
    )
    try:
        async for chunk in stream:
            parser.write(chunk)
            if errors:
                raise errors[0]
        parser.finalize()
        if errors:
            raise errors[0]
        if not result.complete:
            raise BadRequest("The multipart body ends before its closing boundary: the upload is incomplete.")
        if not result.seen:
            raise InvalidRequest("The form has no 'file' part.")
        if result.size == 0:
            raise InvalidRequest("The uploaded file is empty.")
    except Exception as error:
        os.close(fd)
        staged.unlink(missing_ok=True)
        if isinstance(error, InvalidRequest | TooLarge | UnsupportedMedia | BadRequest | BodyTooLarge):
            raise
        raise BadRequest(f"The multipart body could not be parsed: {error or type(error).__name__}") from error
    os.close(fd)
    return StagedUpload(
        path=staged,
        sha256=digest.hexdigest(),
        size_bytes=result.size,
        filename=result.filename,
        content_type=result.content_type or "",
        fields=fields,
    )


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
