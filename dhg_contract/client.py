"""Typed Python client of the Registry API, sync (`RegistryClient`) and async (`AsyncRegistryClient`).

Both are made from one table of calls (`dhg_contract.calls`: each endpoint once, as data), so they cannot drift
apart; types come from `dhg_contract.schemas`, the same models that generate the API's OpenAPI document."""

from __future__ import annotations

import functools
import mimetypes
import uuid
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

import httpx

from dhg_contract import calls
from dhg_contract.calls import (
    AuthError,
    Call,
    FilePart,
    NotFoundError,
    Pushed,
    RegistryAPIError,
    error_of,
    retry_after,
    unreachable,
)
from dhg_contract.schemas import AssetOut

__all__ = [
    "AsyncRegistryClient",
    "AuthError",
    "NotFoundError",
    "Pushed",
    "RegistryAPIError",
    "RegistryClient",
    "retry_after",
]

T = TypeVar("T")
P = ParamSpec("P")
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
DEFAULT_CONTENT_TYPE = "application/octet-stream"


def _blocking(call: Callable[P, Call[T]]) -> Callable[Concatenate[RegistryClient, P], T]:
    """The table's `call` as a method of the blocking client."""

    @functools.wraps(call)
    def method(self: RegistryClient, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return self._run(call(*args, **kwargs))

    return method


def _awaitable(call: Callable[P, Call[T]]) -> Callable[Concatenate[AsyncRegistryClient, P], Coroutine[Any, Any, T]]:
    """The table's `call` as a method of the async client."""

    @functools.wraps(call)
    async def method(self: AsyncRegistryClient, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await self._run(call(*args, **kwargs))

    return method


def _headers(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


@contextmanager
def _file_part(source: Path | bytes, filename: str | None, content_type: str | None) -> Iterator[FilePart]:
    """The file of an upload; one on disk is sent from an open handle, chunk by chunk, never read whole.
    The content type defaults to the one the filename suggests."""
    name = filename or (source.name if isinstance(source, Path) else "upload")
    kind = content_type or mimetypes.guess_type(name)[0] or DEFAULT_CONTENT_TYPE
    if isinstance(source, Path):
        with source.open("rb") as handle:
            yield name, handle, kind
    else:
        yield name, source, kind


class RegistryClient:
    """Blocking client. `RegistryClient(url, token)`; use as a context manager or call `close()`."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._http = httpx.Client(base_url=base_url, headers=_headers(token), timeout=timeout, transport=transport)

    def _run(self, call: Call[T]) -> T:
        try:
            response = self._http.request(call.method, call.path, **call.kwargs)
        except httpx.HTTPError as error:
            raise unreachable(call.method, call.path, error) from error
        if response.status_code >= 400:
            raise error_of(response)
        return call.parse(response)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def ready(self) -> bool:
        """True when /readyz answers 200; False when it answers anything else or nothing answers."""
        try:
            return self._http.get("/readyz").status_code == httpx.codes.OK
        except httpx.HTTPError:
            return False

    def upload_asset(
        self, source: Path | bytes, *, filename: str | None = None, content_type: str | None = None
    ) -> Pushed[AssetOut]:
        """Store media (a file is streamed from disk); `.created` is False when the same bytes were stored before."""
        with _file_part(source, filename, content_type) as part:
            return self._run(calls.upload_asset(part))

    def download_asset_to(self, asset_id: uuid.UUID, target: Path, *, max_bytes: int | None = None) -> int:
        """Stream an asset's bytes into `target` (never whole in memory); returns the byte count."""
        written = 0
        try:
            with self._http.stream("GET", f"/v1/assets/{asset_id}/content") as response:
                if response.status_code >= 400:
                    response.read()
                    raise error_of(response)
                with target.open("wb") as handle:
                    for chunk in response.iter_bytes():
                        written += len(chunk)
                        if max_bytes is not None and written > max_bytes:
                            raise RegistryAPIError(
                                413, {"detail": "asset too large"}, f"asset exceeds {max_bytes} bytes"
                            )
                        handle.write(chunk)
        except httpx.HTTPError as error:
            raise unreachable("GET", f"/v1/assets/{asset_id}/content", error) from error
        return written

    readiness = _blocking(calls.readiness)
    get_asset = _blocking(calls.get_asset)
    download_asset = _blocking(calls.download_asset)
    delete_asset = _blocking(calls.delete_asset)
    push_transcript = _blocking(calls.push_transcript)
    get_transcript = _blocking(calls.get_transcript)
    render_transcript = _blocking(calls.render_transcript)
    transcript_speakers = _blocking(calls.transcript_speakers)
    list_transcripts = _blocking(calls.list_transcripts)
    delete_transcript = _blocking(calls.delete_transcript)
    create_job = _blocking(calls.create_job)
    get_job = _blocking(calls.get_job)
    update_job = _blocking(calls.update_job)
    search = _blocking(calls.search)
    audit = _blocking(calls.audit)
    create_token = _blocking(calls.create_token)
    list_tokens = _blocking(calls.list_tokens)
    revoke_token = _blocking(calls.revoke_token)
    create_webhook = _blocking(calls.create_webhook)
    get_webhook = _blocking(calls.get_webhook)


class AsyncRegistryClient:
    """Non-blocking client with the same calls as `RegistryClient`."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._http = httpx.AsyncClient(base_url=base_url, headers=_headers(token), timeout=timeout, transport=transport)

    async def _run(self, call: Call[T]) -> T:
        try:
            response = await self._http.request(call.method, call.path, **call.kwargs)
        except httpx.HTTPError as error:
            raise unreachable(call.method, call.path, error) from error
        if response.status_code >= 400:
            raise error_of(response)
        return call.parse(response)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncRegistryClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def ready(self) -> bool:
        try:
            return (await self._http.get("/readyz")).status_code == httpx.codes.OK
        except httpx.HTTPError:
            return False

    async def upload_asset(
        self, source: Path | bytes, *, filename: str | None = None, content_type: str | None = None
    ) -> Pushed[AssetOut]:
        # httpx reads a file part in small blocking reads between sends: local disk, never whole in memory
        with _file_part(source, filename, content_type) as part:
            return await self._run(calls.upload_asset(part))

    readiness = _awaitable(calls.readiness)
    get_asset = _awaitable(calls.get_asset)
    download_asset = _awaitable(calls.download_asset)
    delete_asset = _awaitable(calls.delete_asset)
    push_transcript = _awaitable(calls.push_transcript)
    get_transcript = _awaitable(calls.get_transcript)
    render_transcript = _awaitable(calls.render_transcript)
    transcript_speakers = _awaitable(calls.transcript_speakers)
    list_transcripts = _awaitable(calls.list_transcripts)
    delete_transcript = _awaitable(calls.delete_transcript)
    create_job = _awaitable(calls.create_job)
    get_job = _awaitable(calls.get_job)
    update_job = _awaitable(calls.update_job)
    search = _awaitable(calls.search)
    audit = _awaitable(calls.audit)
    create_token = _awaitable(calls.create_token)
    list_tokens = _awaitable(calls.list_tokens)
    revoke_token = _awaitable(calls.revoke_token)
    create_webhook = _awaitable(calls.create_webhook)
    get_webhook = _awaitable(calls.get_webhook)
