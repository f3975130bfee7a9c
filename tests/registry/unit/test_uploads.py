"""The upload receiver (registry/uploads.py) on a real multipart body: the file part reaches the staged file whole
and hashed, is written to disk off the event loop in bounded pieces, and bad bodies leave nothing staged."""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from registry import uploads
from registry.errors import BadRequest, InvalidRequest, TooLarge, UnsupportedMedia

BOUNDARY = "dhg-test-boundary"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"
CHUNK = 64 * 1024


class Staging:
    """The Storage protocol's one method the receiver uses: a staged file in a temporary folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def new_staging_file(self) -> tuple[int, Path]:
        fd, name = tempfile.mkstemp(dir=self.folder, prefix="upload-")
        return fd, Path(name)


def body(
    content: bytes, *, filename: str = "talk.wav", fields: dict[str, str] | None = None, close: bool = True
) -> bytes:
    parts = [
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in (fields or {}).items()
    ]
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: audio/wav\r\n\r\n"
    ).encode()
    return b"".join(parts) + head + content + (f"\r\n--{BOUNDARY}--\r\n".encode() if close else b"")


async def chunks(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), CHUNK):
        yield data[start : start + CHUNK]


def receive(data: bytes, folder: Path, *, max_bytes: int = 1 << 30, content_type: str = CONTENT_TYPE):
    return asyncio.run(
        uploads.receive_file(chunks(data), content_type=content_type, storage=Staging(folder), max_bytes=max_bytes)
    )


def test_the_file_part_is_staged_whole_and_hashed_with_the_other_fields(tmp_path: Path) -> None:
    content = os.urandom(3 * uploads.FLUSH_BYTES + 12345)
    staged = receive(body(content, fields={"language": "de"}), tmp_path)
    assert staged.path.read_bytes() == content and staged.size_bytes == len(content)
    assert staged.sha256 == hashlib.sha256(content).hexdigest()
    assert (staged.filename, staged.content_type, staged.fields) == ("talk.wav", "audio/wav", {"language": "de"})


def test_disk_writes_run_off_the_event_loop_in_bounded_pieces(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    writes: list[tuple[str, int]] = []
    real = uploads._write_all

    def spy(fd: int, data: bytes) -> None:
        writes.append((threading.current_thread().name, len(data)))
        real(fd, data)

    monkeypatch.setattr(uploads, "_write_all", spy)
    content = os.urandom(4 * uploads.FLUSH_BYTES)
    staged = receive(body(content), tmp_path)
    assert staged.path.read_bytes() == content
    assert len(writes) >= 4 and sum(size for _, size in writes) == len(content)
    assert all(size <= uploads.FLUSH_BYTES + CHUNK for _, size in writes)  # memory held: a piece, not the file
    assert threading.main_thread().name not in {name for name, _ in writes}  # never on the event loop's thread


@pytest.mark.parametrize(
    ("data", "error", "says"),
    [
        (body(b"x" * 5000), TooLarge, "exceeds 4096 bytes"),
        (body(b"abc", close=False), BadRequest, "before its closing boundary"),
        (body(b""), InvalidRequest, "empty"),
        (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nx\r\n--{BOUNDARY}--\r\n".encode(),
         InvalidRequest, "no 'file' part"),
        (body(b"abc") [: -len(f"--{BOUNDARY}--\r\n")] + body(b"def"), InvalidRequest, "exactly one 'file' part"),
    ],
    ids=["too-large", "cut-short", "empty", "no-file", "two-files"],
)  # fmt: skip
def test_a_bad_body_is_refused_and_leaves_nothing_staged(tmp_path: Path, data: bytes, error, says: str) -> None:
    with pytest.raises(error, match=says):
        receive(data, tmp_path, max_bytes=4096)
    assert list(tmp_path.iterdir()) == []


def test_a_body_that_is_not_multipart_is_415(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedMedia):
        receive(b"{}", tmp_path, content_type="application/json")
    assert list(tmp_path.iterdir()) == []
