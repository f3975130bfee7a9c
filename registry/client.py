"""Typed Python client of the Registry API, sync (`RegistryClient`) and async (`AsyncRegistryClient`).

Both share one description of each call (`_Call`), so they cannot drift apart; types come from
`registry.schemas`, the same models that generate the API's OpenAPI document."""

from __future__ import annotations

import mimetypes
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Generic, TypeVar

import httpx

from registry.schemas import (
    AssetOut,
    AuditOut,
    JobIn,
    JobOut,
    JobPatch,
    Page,
    SearchResult,
    TokenCreate,
    TokenCreated,
    TokenOut,
    TranscriptFormat,
    TranscriptIn,
    TranscriptOut,
    TranscriptSpeakers,
    TranscriptSummary,
    WebhookCreated,
    WebhookIn,
    WebhookOut,
)

T = TypeVar("T")
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
DEFAULT_CONTENT_TYPE = "application/octet-stream"
FilePart = tuple[str, bytes | BinaryIO, str]  # (filename, content, content type): one multipart file


class RegistryAPIError(Exception):
    """The Registry answered with an error (its RFC 9457 problem is in `problem`), or could not be reached
    (`status` None). `request` names the call ("GET /v1/search"); `retry_after` is the Retry-After delay in
    seconds when the Registry said the condition will pass."""

    def __init__(
        self,
        status: int | None,
        problem: dict[str, Any],
        message: str,
        *,
        request: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.problem = problem
        self.request = request
        self.retry_after = retry_after

    @property
    def type(self) -> str:
        return str(self.problem.get("type", ""))

    @property
    def rejects_content(self) -> bool:
        """The request itself is unacceptable (invalid, too large, naming what does not exist, conflicting):
        sending it again can never succeed, so an outbox sets it aside. Every 4xx but these: 408 and 429 (try
        later), and auth failures (an operator can fix a token: worth retrying)."""
        return self.status is not None and 400 <= self.status < 500 and self.status not in (401, 403, 408, 429)

    @property
    def transient(self) -> bool:
        """Worth retrying later: unreachable, timed out, overloaded or a server error."""
        return self.status is None or self.status == 429 or self.status >= 500


class NotFoundError(RegistryAPIError):
    pass


class AuthError(RegistryAPIError):
    pass


@dataclass
class Pushed(Generic[T]):
    """A create call's result: the stored object, and whether this call created it (False: a replay)."""

    value: T
    created: bool


@dataclass
class _Call(Generic[T]):
    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    kwargs: dict[str, Any] = field(default_factory=dict)


def retry_after(response: httpx.Response) -> float | None:
    """The seconds of a Retry-After header (the delay form; an HTTP date counts as absent)."""
    try:
        return max(0.0, float(response.headers["retry-after"]))
    except (KeyError, ValueError):
        return None


def _error(response: httpx.Response) -> RegistryAPIError:
    try:
        body = response.json()
    except ValueError:
        body = None
    problem = body if isinstance(body, dict) else {"detail": response.text[:500]}
    request = f"{response.request.method} {response.request.url.path}"
    message = f"{request} → {response.status_code}: {problem.get('detail') or problem.get('title') or 'error'}"
    kind = (
        NotFoundError
        if response.status_code == 404
        else AuthError
        if response.status_code in (401, 403)
        else RegistryAPIError
    )
    return kind(response.status_code, problem, message, request=request, retry_after=retry_after(response))


def _unreachable(method: str, path: str, error: httpx.HTTPError) -> RegistryAPIError:
    """No answer (refused, timed out, broken): the cause stays chained as `__cause__`."""
    return RegistryAPIError(None, {"detail": str(error)}, f"registry unreachable: {error}", request=f"{method} {path}")


def _model(model: Any) -> Callable[[httpx.Response], Any]:
    return lambda response: model.model_validate(response.json())


def _pushed(model: Any) -> Callable[[httpx.Response], Any]:
    return lambda response: Pushed(model.model_validate(response.json()), response.status_code == 201)


def _none(response: httpx.Response) -> None:
    return None


def _params(**values: Any) -> dict[str, Any]:
    return {
        key: str(value) if isinstance(value, uuid.UUID) else value for key, value in values.items() if value is not None
    }


class _Calls:
    """Every API call as data; the sync and async clients only execute them."""

    @staticmethod
    def readiness() -> _Call[dict[str, Any]]:
        return _Call("GET", "/readyz", lambda r: dict(r.json()))

    @staticmethod
    def upload_asset(part: FilePart) -> _Call[Pushed[AssetOut]]:
        return _Call("POST", "/v1/assets", _pushed(AssetOut), {"files": {"file": part}})

    @staticmethod
    def get_asset(asset_id: uuid.UUID) -> _Call[AssetOut]:
        return _Call("GET", f"/v1/assets/{asset_id}", _model(AssetOut))

    @staticmethod
    def download_asset(asset_id: uuid.UUID) -> _Call[bytes]:
        return _Call("GET", f"/v1/assets/{asset_id}/content", lambda r: r.content)

    @staticmethod
    def delete_asset(asset_id: uuid.UUID) -> _Call[None]:
        return _Call("DELETE", f"/v1/assets/{asset_id}", _none)

    @staticmethod
    def push_transcript(transcript: TranscriptIn) -> _Call[Pushed[TranscriptOut]]:
        return _Call(
            "POST",
            "/v1/transcripts",
            _pushed(TranscriptOut),
            {"content": transcript.model_dump_json(exclude_none=True), "headers": {"Content-Type": "application/json"}},
        )

    @staticmethod
    def get_transcript(transcript_id: uuid.UUID) -> _Call[TranscriptOut]:
        return _Call("GET", f"/v1/transcripts/{transcript_id}", _model(TranscriptOut))

    @staticmethod
    def render_transcript(transcript_id: uuid.UUID, fmt: TranscriptFormat) -> _Call[str]:
        return _Call("GET", f"/v1/transcripts/{transcript_id}", lambda r: r.text, {"params": {"format": fmt}})

    @staticmethod
    def transcript_speakers(transcript_id: uuid.UUID) -> _Call[TranscriptSpeakers]:
        return _Call("GET", f"/v1/transcripts/{transcript_id}/speakers", _model(TranscriptSpeakers))

    @staticmethod
    def list_transcripts(limit: int, offset: int, **filters: Any) -> _Call[Page[TranscriptSummary]]:
        return _Call(
            "GET",
            "/v1/transcripts",
            _model(Page[TranscriptSummary]),
            {"params": _params(limit=limit, offset=offset, **filters)},
        )

    @staticmethod
    def delete_transcript(transcript_id: uuid.UUID) -> _Call[None]:
        return _Call("DELETE", f"/v1/transcripts/{transcript_id}", _none)

    @staticmethod
    def create_job(job: JobIn) -> _Call[Pushed[JobOut]]:
        return _Call(
            "POST",
            "/v1/jobs",
            _pushed(JobOut),
            {"content": job.model_dump_json(exclude_none=True), "headers": {"Content-Type": "application/json"}},
        )

    @staticmethod
    def get_job(job_id: uuid.UUID) -> _Call[JobOut]:
        return _Call("GET", f"/v1/jobs/{job_id}", _model(JobOut))

    @staticmethod
    def update_job(job_id: uuid.UUID, patch: JobPatch) -> _Call[JobOut]:
        return _Call(
            "PATCH",
            f"/v1/jobs/{job_id}",
            _model(JobOut),
            {"content": patch.model_dump_json(exclude_unset=True), "headers": {"Content-Type": "application/json"}},
        )

    @staticmethod
    def search(q: str, mode: str, limit: int, **filters: Any) -> _Call[SearchResult]:
        return _Call(
            "GET", "/v1/search", _model(SearchResult), {"params": _params(q=q, mode=mode, limit=limit, **filters)}
        )

    @staticmethod
    def audit(limit: int, offset: int, **filters: Any) -> _Call[Page[AuditOut]]:
        return _Call(
            "GET", "/v1/audit", _model(Page[AuditOut]), {"params": _params(limit=limit, offset=offset, **filters)}
        )

    @staticmethod
    def create_token(name: str, scopes: list[str]) -> _Call[TokenCreated]:
        body = TokenCreate(name=name, scopes=scopes)  # type: ignore[arg-type]
        return _Call("POST", "/v1/tokens", _model(TokenCreated), {"json": body.model_dump()})

    @staticmethod
    def list_tokens(limit: int, offset: int) -> _Call[Page[TokenOut]]:
        return _Call("GET", "/v1/tokens", _model(Page[TokenOut]), {"params": _params(limit=limit, offset=offset)})

    @staticmethod
    def revoke_token(token_id: uuid.UUID) -> _Call[TokenOut]:
        return _Call("DELETE", f"/v1/tokens/{token_id}", _model(TokenOut))

    @staticmethod
    def create_webhook(webhook: WebhookIn) -> _Call[WebhookCreated]:
        return _Call("POST", "/v1/webhooks", _model(WebhookCreated), {"json": webhook.model_dump(mode="json")})

    @staticmethod
    def get_webhook(webhook_id: uuid.UUID) -> _Call[WebhookOut]:
        return _Call("GET", f"/v1/webhooks/{webhook_id}", _model(WebhookOut))


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

    def _run(self, call: _Call[T]) -> T:
        try:
            response = self._http.request(call.method, call.path, **call.kwargs)
        except httpx.HTTPError as error:
            raise _unreachable(call.method, call.path, error) from error
        if response.status_code >= 400:
            raise _error(response)
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

    def readiness(self) -> dict[str, Any]:
        """What /readyz says (status, schema); RegistryAPIError when the Registry is not ready."""
        return self._run(_Calls.readiness())

    def upload_asset(
        self, source: Path | bytes, *, filename: str | None = None, content_type: str | None = None
    ) -> Pushed[AssetOut]:
        """Store media (a file is streamed from disk); `.created` is False when the same bytes were stored before."""
        with _file_part(source, filename, content_type) as part:
            return self._run(_Calls.upload_asset(part))

    def get_asset(self, asset_id: uuid.UUID) -> AssetOut:
        return self._run(_Calls.get_asset(asset_id))

    def download_asset(self, asset_id: uuid.UUID) -> bytes:
        return self._run(_Calls.download_asset(asset_id))

    def delete_asset(self, asset_id: uuid.UUID) -> None:
        self._run(_Calls.delete_asset(asset_id))

    def download_asset_to(self, asset_id: uuid.UUID, target: Path, *, max_bytes: int | None = None) -> int:
        """Stream an asset's bytes into `target` (never whole in memory); returns the byte count."""
        written = 0
        try:
            with self._http.stream("GET", f"/v1/assets/{asset_id}/content") as response:
                if response.status_code >= 400:
                    response.read()
                    raise _error(response)
                with target.open("wb") as handle:
                    for chunk in response.iter_bytes():
                        written += len(chunk)
                        if max_bytes is not None and written > max_bytes:
                            raise RegistryAPIError(
                                413, {"detail": "asset too large"}, f"asset exceeds {max_bytes} bytes"
                            )
                        handle.write(chunk)
        except httpx.HTTPError as error:
            raise _unreachable("GET", f"/v1/assets/{asset_id}/content", error) from error
        return written

    def push_transcript(self, transcript: TranscriptIn) -> Pushed[TranscriptOut]:
        """Store a transcript; idempotent on `transcript.job_id` (`.created` is False on a replay)."""
        return self._run(_Calls.push_transcript(transcript))

    def get_transcript(self, transcript_id: uuid.UUID) -> TranscriptOut:
        return self._run(_Calls.get_transcript(transcript_id))

    def render_transcript(self, transcript_id: uuid.UUID, fmt: TranscriptFormat) -> str:
        return self._run(_Calls.render_transcript(transcript_id, fmt))

    def transcript_speakers(self, transcript_id: uuid.UUID) -> TranscriptSpeakers:
        """Who speaks in the transcript, with their talk time."""
        return self._run(_Calls.transcript_speakers(transcript_id))

    def list_transcripts(self, *, limit: int = 50, offset: int = 0, **filters: Any) -> Page[TranscriptSummary]:
        """A page of transcripts; filters as the API's (`job_id`, `asset_id`, `language`, ...)."""
        return self._run(_Calls.list_transcripts(limit, offset, **filters))

    def delete_transcript(self, transcript_id: uuid.UUID) -> None:
        self._run(_Calls.delete_transcript(transcript_id))

    def create_job(self, job: JobIn) -> Pushed[JobOut]:
        return self._run(_Calls.create_job(job))

    def get_job(self, job_id: uuid.UUID) -> JobOut:
        return self._run(_Calls.get_job(job_id))

    def update_job(self, job_id: uuid.UUID, patch: JobPatch) -> JobOut:
        return self._run(_Calls.update_job(job_id, patch))

    def search(self, q: str, *, mode: str = "auto", limit: int = 10, **filters: Any) -> SearchResult:
        return self._run(_Calls.search(q, mode, limit, **filters))

    def audit(self, *, limit: int = 50, offset: int = 0, **filters: Any) -> Page[AuditOut]:
        return self._run(_Calls.audit(limit, offset, **filters))

    def create_token(self, name: str, scopes: list[str]) -> TokenCreated:
        return self._run(_Calls.create_token(name, scopes))

    def list_tokens(self, *, limit: int = 500, offset: int = 0) -> Page[TokenOut]:
        return self._run(_Calls.list_tokens(limit, offset))

    def revoke_token(self, token_id: uuid.UUID) -> TokenOut:
        return self._run(_Calls.revoke_token(token_id))

    def create_webhook(self, webhook: WebhookIn) -> WebhookCreated:
        return self._run(_Calls.create_webhook(webhook))


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

    async def _run(self, call: _Call[T]) -> T:
        try:
            response = await self._http.request(call.method, call.path, **call.kwargs)
        except httpx.HTTPError as error:
            raise _unreachable(call.method, call.path, error) from error
        if response.status_code >= 400:
            raise _error(response)
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

    async def readiness(self) -> dict[str, Any]:
        return await self._run(_Calls.readiness())

    async def upload_asset(
        self, source: Path | bytes, *, filename: str | None = None, content_type: str | None = None
    ) -> Pushed[AssetOut]:
        # httpx reads a file part in small blocking reads between sends: local disk, never whole in memory
        with _file_part(source, filename, content_type) as part:
            return await self._run(_Calls.upload_asset(part))

    async def get_asset(self, asset_id: uuid.UUID) -> AssetOut:
        return await self._run(_Calls.get_asset(asset_id))

    async def push_transcript(self, transcript: TranscriptIn) -> Pushed[TranscriptOut]:
        return await self._run(_Calls.push_transcript(transcript))

    async def get_transcript(self, transcript_id: uuid.UUID) -> TranscriptOut:
        return await self._run(_Calls.get_transcript(transcript_id))

    async def render_transcript(self, transcript_id: uuid.UUID, fmt: TranscriptFormat) -> str:
        return await self._run(_Calls.render_transcript(transcript_id, fmt))

    async def transcript_speakers(self, transcript_id: uuid.UUID) -> TranscriptSpeakers:
        return await self._run(_Calls.transcript_speakers(transcript_id))

    async def list_transcripts(self, *, limit: int = 50, offset: int = 0, **filters: Any) -> Page[TranscriptSummary]:
        return await self._run(_Calls.list_transcripts(limit, offset, **filters))

    async def create_job(self, job: JobIn) -> Pushed[JobOut]:
        return await self._run(_Calls.create_job(job))

    async def get_job(self, job_id: uuid.UUID) -> JobOut:
        return await self._run(_Calls.get_job(job_id))

    async def update_job(self, job_id: uuid.UUID, patch: JobPatch) -> JobOut:
        return await self._run(_Calls.update_job(job_id, patch))

    async def search(self, q: str, *, mode: str = "auto", limit: int = 10, **filters: Any) -> SearchResult:
        return await self._run(_Calls.search(q, mode, limit, **filters))

    async def list_tokens(self, *, limit: int = 500, offset: int = 0) -> Page[TokenOut]:
        return await self._run(_Calls.list_tokens(limit, offset))
