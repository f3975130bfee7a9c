"""Where media bytes live: a local directory (a PVC in the cluster) or an S3-compatible bucket, behind the
`Storage` protocol. Uploads are staged to a local file while they stream in (to hash and probe them), then
handed to the storage under a key derived from their sha256.

Every method blocks (disk or network): the routes call them in a worker thread."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from registry.errors import MissingContent, Unavailable
from registry.settings import Settings

log = logging.getLogger("registry.storage")

CHUNK_BYTES = 256 * 1024
S3_PART_BYTES = 8 * 1024**2  # one part of a multipart upload
S3_PARTS_AT_ONCE = 2  # parts sent at once: an upload holds about this many parts in memory
S3_MISSING = frozenset({"404", "NoSuchKey", "NotFound"})


class Storage(Protocol):
    def new_staging_file(self) -> tuple[int, Path]:
        """An open file descriptor and path on local disk for an upload being received."""

    def put_file(self, key: str, staged: Path) -> None:
        """Store a fully written staged file under `key` (atomic for readers; storing the same bytes again is
        harmless). The staged file stays, so that it can be stored again; the caller removes it."""

    def exists(self, key: str) -> bool: ...

    def size(self, key: str) -> int:
        """The size of what `key` holds; `MissingContent` when it holds nothing."""

    def read_chunks(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]: ...

    def local_path(self, key: str) -> Path | None:
        """A filesystem path for `key` when the backend has one (lets the server use sendfile)."""

    def delete(self, key: str) -> None: ...

    def check(self) -> None:
        """Raise `Unavailable` unless bytes can be stored and read now (readiness)."""


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
        linked = target.with_name(f".{target.name}.{uuid.uuid4().hex}")  # a second name, no copy: same file system
        os.link(staged, linked)
        try:
            os.replace(linked, target)
        finally:
            linked.unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def size(self, key: str) -> int:
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError as error:
            raise MissingContent(f"No file for {key!r}.") from error

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

    def check(self) -> None:
        if not self.staging_dir().is_dir():
            raise Unavailable(f"The media directory {self.root} is gone.")

    def clear_staging(self) -> None:
        shutil.rmtree(self.staging_dir(), ignore_errors=True)
        self.staging_dir().mkdir(parents=True, exist_ok=True)


class S3Storage:
    """Blobs as objects in an S3-compatible bucket, under an optional key prefix. Uploads are staged in the
    system's temporary folder and sent as a multipart upload of bounded parts; reads are ranged GETs."""

    def __init__(
        self,
        *,
        bucket: str,
        endpoint: str = "",
        region: str = "",
        prefix: str = "",
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
    ) -> None:
        import boto3  # here, not at the top: 0.25 s and 25 MB that a local store never needs
        from boto3.exceptions import S3UploadFailedError
        from boto3.s3.transfer import TransferConfig
        from botocore.config import Config

        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self._failures: tuple[type[Exception], ...] = (BotoCoreError, S3UploadFailedError)
        self._client: Any = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint or None,
            region_name=region or None,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            config=Config(
                connect_timeout=5,
                read_timeout=60,
                retries={"mode": "standard", "max_attempts": 3},
                # S3-compatible servers differ on AWS's newer default checksums; send them only where required
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
                # a bucket.host name needs wildcard DNS that an in-cluster MinIO or SeaweedFS seldom has
                s3={"addressing_style": "path" if endpoint else "auto"},
            ),
        )
        self._transfer = TransferConfig(
            multipart_threshold=S3_PART_BYTES, multipart_chunksize=S3_PART_BYTES, max_concurrency=S3_PARTS_AT_ONCE
        )

    def _object(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    @contextmanager
    def _answers(self, key: str) -> Iterator[None]:
        """The S3 server's errors as the Registry's: no such object is `MissingContent`, the rest `Unavailable`."""
        try:
            yield
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            if code in S3_MISSING:
                raise MissingContent(f"No object for {key!r} in the bucket.") from error
            log.warning("S3 refused a request on %r in bucket %s: %s", key, self.bucket, error)
            raise Unavailable(f"The media store refused the request ({code or 'no error code'}).") from error
        except self._failures as error:
            log.warning("S3 failed on %r in bucket %s: %s", key, self.bucket, error)
            raise Unavailable(f"The media store could not be used ({type(error).__name__}).") from error

    def new_staging_file(self) -> tuple[int, Path]:
        fd, name = tempfile.mkstemp(prefix="dhg-upload-")
        return fd, Path(name)

    def put_file(self, key: str, staged: Path) -> None:
        with self._answers(key):
            self._client.upload_file(str(staged), self.bucket, self._object(key), Config=self._transfer)

    def exists(self, key: str) -> bool:
        try:
            self.size(key)
        except MissingContent:
            return False
        return True

    def size(self, key: str) -> int:
        with self._answers(key):
            head = self._client.head_object(Bucket=self.bucket, Key=self._object(key))
        return int(head["ContentLength"])

    def read_chunks(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        ranged = {} if start == 0 and end is None else {"Range": f"bytes={start}-{'' if end is None else end - 1}"}
        with self._answers(key):
            body = self._client.get_object(Bucket=self.bucket, Key=self._object(key), **ranged)["Body"]
            try:
                yield from body.iter_chunks(CHUNK_BYTES)
            finally:
                body.close()

    def local_path(self, key: str) -> Path | None:
        return None

    def delete(self, key: str) -> None:
        with self._answers(key):
            self._client.delete_object(Bucket=self.bucket, Key=self._object(key))

    def check(self) -> None:
        try:
            with self._answers(""):
                self._client.head_bucket(Bucket=self.bucket)
        except MissingContent as error:
            raise Unavailable(f"The bucket {self.bucket!r} does not exist.") from error


def open_storage(settings: Settings) -> Storage:
    """The storage the settings name."""
    if settings.storage == "local":
        return LocalStorage(settings.storage_dir)
    if not settings.s3_bucket:
        raise ValueError("DHG_REGISTRY_S3_BUCKET is needed with DHG_REGISTRY_STORAGE=s3")
    key_id, secret = settings.s3_access_key_id, settings.s3_secret_access_key
    return S3Storage(
        bucket=settings.s3_bucket,
        endpoint=settings.s3_endpoint,
        region=settings.s3_region,
        prefix=settings.s3_prefix,
        access_key_id=key_id.get_secret_value() if key_id else None,
        secret_access_key=secret.get_secret_value() if secret else None,
    )
