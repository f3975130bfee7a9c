"""The Registry API's calls, each once, as data (`Call`: method, path, what to send, how to read the answer), and the
errors an answer becomes; `dhg_contract.client` makes its blocking and its async client from this table."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Generic, TypeVar

import httpx

from dhg_contract.schemas import (
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
class Call(Generic[T]):
    """One API call as data: what to send, and how to read its answer."""

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


def error_of(response: httpx.Response) -> RegistryAPIError:
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


def unreachable(method: str, path: str, error: httpx.HTTPError) -> RegistryAPIError:
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


# ---- the table: every call of the API ----


def readiness() -> Call[dict[str, Any]]:
    """What /readyz says (status, schema); RegistryAPIError when the Registry is not ready."""
    return Call("GET", "/readyz", lambda r: dict(r.json()))


def upload_asset(part: FilePart) -> Call[Pushed[AssetOut]]:
    return Call("POST", "/v1/assets", _pushed(AssetOut), {"files": {"file": part}})


def get_asset(asset_id: uuid.UUID) -> Call[AssetOut]:
    return Call("GET", f"/v1/assets/{asset_id}", _model(AssetOut))


def download_asset(asset_id: uuid.UUID) -> Call[bytes]:
    return Call("GET", f"/v1/assets/{asset_id}/content", lambda r: r.content)


def delete_asset(asset_id: uuid.UUID) -> Call[None]:
    return Call("DELETE", f"/v1/assets/{asset_id}", _none)


def push_transcript(transcript: TranscriptIn) -> Call[Pushed[TranscriptOut]]:
    """Store a transcript; idempotent on `transcript.job_id` (`.created` is False on a replay)."""
    return Call(
        "POST",
        "/v1/transcripts",
        _pushed(TranscriptOut),
        {"content": transcript.model_dump_json(exclude_none=True), "headers": {"Content-Type": "application/json"}},
    )


def get_transcript(transcript_id: uuid.UUID) -> Call[TranscriptOut]:
    return Call("GET", f"/v1/transcripts/{transcript_id}", _model(TranscriptOut))


def render_transcript(transcript_id: uuid.UUID, fmt: TranscriptFormat) -> Call[str]:
    return Call("GET", f"/v1/transcripts/{transcript_id}", lambda r: r.text, {"params": {"format": fmt}})


def transcript_speakers(transcript_id: uuid.UUID) -> Call[TranscriptSpeakers]:
    """Who speaks in the transcript, with their talk time."""
    return Call("GET", f"/v1/transcripts/{transcript_id}/speakers", _model(TranscriptSpeakers))


def list_transcripts(*, limit: int = 50, offset: int = 0, **filters: Any) -> Call[Page[TranscriptSummary]]:
    """A page of transcripts; filters as the API's (`job_id`, `asset_id`, `language`, ...)."""
    return Call(
        "GET",
        "/v1/transcripts",
        _model(Page[TranscriptSummary]),
        {"params": _params(limit=limit, offset=offset, **filters)},
    )


def delete_transcript(transcript_id: uuid.UUID) -> Call[None]:
    return Call("DELETE", f"/v1/transcripts/{transcript_id}", _none)


def create_job(job: JobIn) -> Call[Pushed[JobOut]]:
    return Call(
        "POST",
        "/v1/jobs",
        _pushed(JobOut),
        {"content": job.model_dump_json(exclude_none=True), "headers": {"Content-Type": "application/json"}},
    )


def get_job(job_id: uuid.UUID) -> Call[JobOut]:
    return Call("GET", f"/v1/jobs/{job_id}", _model(JobOut))


def update_job(job_id: uuid.UUID, patch: JobPatch) -> Call[JobOut]:
    return Call(
        "PATCH",
        f"/v1/jobs/{job_id}",
        _model(JobOut),
        {"content": patch.model_dump_json(exclude_unset=True), "headers": {"Content-Type": "application/json"}},
    )


def search(q: str, *, mode: str = "auto", limit: int = 10, **filters: Any) -> Call[SearchResult]:
    return Call("GET", "/v1/search", _model(SearchResult), {"params": _params(q=q, mode=mode, limit=limit, **filters)})


def audit(*, limit: int = 50, offset: int = 0, **filters: Any) -> Call[Page[AuditOut]]:
    return Call("GET", "/v1/audit", _model(Page[AuditOut]), {"params": _params(limit=limit, offset=offset, **filters)})


def create_token(name: str, scopes: list[str]) -> Call[TokenCreated]:
    body = TokenCreate(name=name, scopes=scopes)  # type: ignore[arg-type]
    return Call("POST", "/v1/tokens", _model(TokenCreated), {"json": body.model_dump()})


def list_tokens(*, limit: int = 500, offset: int = 0) -> Call[Page[TokenOut]]:
    return Call("GET", "/v1/tokens", _model(Page[TokenOut]), {"params": _params(limit=limit, offset=offset)})


def revoke_token(token_id: uuid.UUID) -> Call[TokenOut]:
    return Call("DELETE", f"/v1/tokens/{token_id}", _model(TokenOut))


def create_webhook(webhook: WebhookIn) -> Call[WebhookCreated]:
    return Call("POST", "/v1/webhooks", _model(WebhookCreated), {"json": webhook.model_dump(mode="json")})


def get_webhook(webhook_id: uuid.UUID) -> Call[WebhookOut]:
    return Call("GET", f"/v1/webhooks/{webhook_id}", _model(WebhookOut))
