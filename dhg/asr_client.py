"""A small HTTP client for the ASR service's OpenAI-compatible API, with one-line errors."""

from __future__ import annotations

import base64
import json
import mimetypes
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import httpx

from asr.protocol import ASSET_HEADER, JOB_HEADER, MODELS_PATH, TRANSCRIPTIONS_PATH
from dhg.api import problem_message
from dhg.errors import AsrRefused, AsrUnreachable

CONNECT_TIMEOUT_SECONDS = 5.0
HINTS = {
    401: "set DHG_ASR_API_KEY to the service's API key, or pass the --data-dir `dhg up` runs with",
}


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    text: str


@dataclass(frozen=True)
class Transcription:
    """One answer of the service: the body as it rendered it, and the Registry job it was stored under."""

    body: str
    job_id: uuid.UUID | None

    def parsed(self) -> dict[str, Any]:
        """The body of a json or verbose_json answer."""
        value = json.loads(self.body)
        return value if isinstance(value, dict) else {}

    def segments(self) -> list[Segment]:
        """The time-stamped segments of a verbose_json answer."""
        return [
            Segment(float(item["start"]), float(item["end"]), str(item["text"]).strip())
            for item in self.parsed().get("segments", [])
        ]


@dataclass(frozen=True)
class Speakers:
    """What `dhg transcribe --speakers` asks: find them, within bounds, naming those whose voice clips are given."""

    min_speakers: int | None = None
    max_speakers: int | None = None
    known: dict[str, Path] = field(default_factory=dict)  # name → a short clip of that person

    def form(self) -> dict[str, str | list[str]]:
        fields: dict[str, str | list[str]] = {"diarize": "true"}
        if self.min_speakers:
            fields["min_speakers"] = str(self.min_speakers)
        if self.max_speakers:
            fields["max_speakers"] = str(self.max_speakers)
        if self.known:
            fields["known_speaker_names[]"] = list(self.known)
            fields["known_speaker_references[]"] = [data_url(path) for path in self.known.values()]
        return fields


def data_url(path: Path) -> str:
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return f"data:{content_type};base64," + base64.b64encode(path.read_bytes()).decode()


class AsrClient:
    """Calls the ASR service at `url`, sending `api_key` as the bearer token when given."""

    def __init__(self, url: str, api_key: str | None = None, timeout: float = 3600.0) -> None:
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(
            base_url=self.url, headers=headers, timeout=httpx.Timeout(timeout, connect=CONNECT_TIMEOUT_SECONDS)
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.ConnectError as error:
            raise AsrUnreachable(
                f"the ASR service at {self.url} is not reachable (is `dhg up` running? or pass --asr-url)"
            ) from error
        except httpx.TimeoutException as error:
            raise AsrUnreachable(f"the ASR service at {self.url} did not answer in time") from error
        except httpx.HTTPError as error:
            raise AsrUnreachable(f"talking to the ASR service at {self.url} failed: {error}") from error
        if response.is_error:
            raise AsrRefused(problem_message(response, HINTS), response.status_code)
        return response

    def is_ready(self) -> bool:
        """True when /readyz answers 200 (the default model is loaded); False otherwise."""
        try:
            return self._http.get("/readyz", timeout=CONNECT_TIMEOUT_SECONDS).status_code == httpx.codes.OK
        except httpx.HTTPError:
            return False

    def readiness(self) -> dict[str, Any]:
        """The service's /readyz answer; raises AsrUnreachable when it is not up or not ready."""
        try:
            return dict(self._request("GET", "/readyz", timeout=CONNECT_TIMEOUT_SECONDS).json())
        except AsrRefused as error:
            raise AsrUnreachable(f"the ASR service at {self.url} is not ready: {error}") from error

    def models(self) -> list[dict[str, Any]]:
        """The service's model catalogue (`GET /v1/models`)."""
        return list(self._request("GET", MODELS_PATH, timeout=CONNECT_TIMEOUT_SECONDS).json()["data"])

    def transcribe(
        self,
        path: Path,
        *,
        response_format: str = "json",
        model: str | None = None,
        language: str | None = None,
        job_id: uuid.UUID | None = None,
        asset_id: uuid.UUID | None = None,
        speakers: Speakers | None = None,
    ) -> Transcription:
        """Send one file; with `job_id` the Registry stores the result once however often it is sent; with
        `speakers`, the service says who spoke when."""
        form: dict[str, str | list[str]] = {"response_format": response_format}
        if model:
            form["model"] = model
        if language:
            form["language"] = language
        if speakers is not None:
            form.update(speakers.form())
        headers = {}
        if job_id is not None:
            headers[JOB_HEADER] = str(job_id)
        if asset_id is not None:
            headers[ASSET_HEADER] = str(asset_id)
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        with path.open("rb") as handle:
            response = self._request(
                "POST",
                TRANSCRIPTIONS_PATH,
                data=form,
                files={"file": (path.name, handle, content_type)},
                headers=headers,
            )
        echoed = response.headers.get(JOB_HEADER)
        return Transcription(body=response.text, job_id=uuid.UUID(echoed) if echoed else None)
