"""A small HTTP client for the Registry: typed results from the Registry's own schemas, one-line errors."""

from __future__ import annotations

import mimetypes
import uuid
from pathlib import Path
from typing import Any, Self, TypeVar

import httpx
from pydantic import BaseModel

from dhg.errors import RegistryRefused, RegistryUnreachable
from registry.schemas import (
    AssetOut,
    JobOut,
    Page,
    SearchResult,
    TokenCreated,
    TokenOut,
    TranscriptOut,
    TranscriptSummary,
)

M = TypeVar("M", bound=BaseModel)
HINTS = {
    401: "pass a valid token with --token or DHG_TOKEN, or the --data-dir `dhg up` runs with",
}


def problem_message(response: httpx.Response, hints: dict[int, str] = HINTS) -> str:
    """`<status> <title>: <detail>` from an RFC 9457 problem, or the start of whatever body came back."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and ("title" in body or "detail" in body):
        title, detail = body.get("title") or response.reason_phrase, body.get("detail") or ""
        text = f"{title}: {detail}" if detail and detail != title else str(title)
    else:
        first_line = response.text.strip().splitlines()[0][:200] if response.text.strip() else ""
        text = first_line or response.reason_phrase
    hint = hints.get(response.status_code)
    return f"{response.status_code} {text}" + (f" ({hint})" if hint else "")


def retry_after(response: httpx.Response) -> float | None:
    """The seconds of a Retry-After header (the delay form; an HTTP date counts as absent)."""
    try:
        return max(0.0, float(response.headers["retry-after"]))
    except (KeyError, ValueError):
        return None


class RegistryClient:
    """Calls the Registry at `url`, with `token` as the bearer token when given."""

    def __init__(self, url: str, token: str | None = None, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send one request; raises RegistryUnreachable or RegistryRefused instead of returning an error."""
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.ConnectError as error:
            raise RegistryUnreachable(f"the Registry at {self.url} is not reachable (is `dhg up` running?)") from error
        except httpx.TimeoutException as error:
            raise RegistryUnreachable(f"the Registry at {self.url} did not answer in time") from error
        except httpx.HTTPError as error:
            raise RegistryUnreachable(f"talking to the Registry at {self.url} failed: {error}") from error
        if response.is_error:
            raise RegistryRefused(
                f"{method} {path}: {problem_message(response)}", response.status_code, retry_after(response)
            )
        return response

    def _parse(self, model: type[M], response: httpx.Response) -> M:
        return model.model_validate(response.json())

    def is_ready(self) -> bool:
        """True when /readyz answers 200; False when it answers anything else or nothing answers."""
        try:
            return self._http.get("/readyz").status_code == httpx.codes.OK
        except httpx.HTTPError:
            return False

    def readiness(self) -> dict[str, Any]:
        return dict(self.request("GET", "/readyz").json())

    def upload_asset(self, path: Path) -> tuple[AssetOut, bool]:
        """Upload a media file; returns the asset and whether it was new (False: same bytes stored before)."""
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        with path.open("rb") as handle:
            response = self.request("POST", "/v1/assets", files={"file": (path.name, handle, content_type)})
        return self._parse(AssetOut, response), response.status_code == httpx.codes.CREATED

    def get_transcript(self, transcript_id: uuid.UUID) -> TranscriptOut:
        return self._parse(TranscriptOut, self.request("GET", f"/v1/transcripts/{transcript_id}"))

    def transcripts_of_job(self, job_id: uuid.UUID) -> Page[TranscriptSummary]:
        """The transcripts stored for `job_id`: none yet, or exactly one (the Registry keys them by job)."""
        response = self.request("GET", "/v1/transcripts", params={"job_id": str(job_id)})
        return self._parse(Page[TranscriptSummary], response)

    def create_job(self, body: dict[str, Any]) -> JobOut:
        """Record a job; with a client-chosen `id` in `body`, creating it again returns the stored one."""
        return self._parse(JobOut, self.request("POST", "/v1/jobs", json=body))

    def update_job(self, job_id: uuid.UUID, patch: dict[str, Any]) -> JobOut:
        return self._parse(JobOut, self.request("PATCH", f"/v1/jobs/{job_id}", json=patch))

    def search(
        self, query: str, *, mode: str = "auto", limit: int = 10, transcript_id: uuid.UUID | None = None
    ) -> SearchResult:
        params: dict[str, str | int] = {"q": query, "mode": mode, "limit": limit}
        if transcript_id is not None:
            params["transcript_id"] = str(transcript_id)
        return self._parse(SearchResult, self.request("GET", "/v1/search", params=params))

    def create_token(self, name: str, scopes: list[str]) -> TokenCreated:
        response = self.request("POST", "/v1/tokens", json={"name": name, "scopes": scopes})
        return self._parse(TokenCreated, response)

    def list_tokens(self, limit: int = 500) -> Page[TokenOut]:
        return self._parse(Page[TokenOut], self.request("GET", "/v1/tokens", params={"limit": limit}))

    def revoke_token(self, token_id: uuid.UUID) -> TokenOut:
        return self._parse(TokenOut, self.request("DELETE", f"/v1/tokens/{token_id}"))
