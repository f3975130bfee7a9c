"""The Registry's API schemas: the one source of its OpenAPI document and of its Python client's types."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AnyHttpUrl, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from dhg_core.vocabulary import Device, Phase

T = TypeVar("T")
Scope = Literal["read", "ingest", "write", "admin"]
SCOPES: tuple[Scope, ...] = ("read", "ingest", "write", "admin")
TranscriptFormat = Literal["json", "text", "srt", "vtt", "tsv"]
EventType = Literal[
    "asset.created",
    "asset.deleted",
    "transcript.created",
    "transcript.deleted",
    "job.created",
    "job.updated",
    "job.succeeded",
    "job.failed",
    "job.cancelled",
]
EVENT_TYPES: tuple[str, ...] = EventType.__args__  # type: ignore[attr-defined]
Name = Annotated[str, Field(min_length=1, max_length=200)]
MAX_SEGMENTS = 100_000
MAX_SECONDS = 1e7  # a time or duration in a transcript: about 115 days (beyond it, a value no recording has)
MAX_INT4 = 2**31 - 1  # the Registry's integer columns
Seconds = Annotated[float, Field(ge=0, le=MAX_SECONDS)]
RFC3339_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


def _rfc3339(value: object) -> object:
    """A date-time as the documents say (`format: date-time`, RFC 3339 with its offset), never a bare number read as
    Unix time (a datetime built in code passes as it is)."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not RFC3339_DATETIME.fullmatch(value):
        raise ValueError("expected an RFC 3339 date-time with its offset, e.g. 2026-12-06T21:30:00Z")
    return value


def _no_bool(value: object) -> object:
    """JSON Schema's integer (682720.0 is one, true is not): a boolean is refused, not read as 0 or 1."""
    if isinstance(value, bool):
        raise ValueError("expected an integer, not a boolean")
    return value


Count = Annotated[int, Field(ge=0, le=MAX_INT4), BeforeValidator(_no_bool)]  # attempts and the like
Rfc3339 = Annotated[datetime, BeforeValidator(_rfc3339)]  # what a request may send as a date-time
QueryDatetime = Rfc3339
Speaker = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        description="Who speaks (diarization): `A`, `B`, ... or a known speaker's name.",
    ),
]


class Model(BaseModel):
    # No NaN or infinity: JSON has none, PostgreSQL's arithmetic and the subtitle writers cannot use them.
    model_config = ConfigDict(from_attributes=True, extra="forbid", allow_inf_nan=False)


class Page(Model, Generic[T]):
    """One page of a list; `total` counts every match, not just this page."""

    items: list[T]
    total: int
    limit: int
    offset: int


class TokenCreate(Model):
    name: Name
    scopes: list[Scope] = Field(min_length=1)


class TokenOut(Model):
    id: uuid.UUID
    name: str
    scopes: list[str]
    created_by: str
    created_at: datetime
    revoked_at: datetime | None = None


class TokenCreated(TokenOut):
    token: str = Field(description="The bearer token; shown only once.")


class AssetOut(Model):
    id: uuid.UUID
    sha256: str
    size_bytes: int
    content_type: str
    filename: str | None
    duration_seconds: float | None
    created_by: str
    created_at: datetime


class AssetLink(Model):
    """A short-lived link to one asset's bytes that needs no token (registry/links.py)."""

    href: str = Field(description="The content URL with its expiry and signature, relative to this link's own URL.")
    expires_at: datetime
    seconds: int = Field(description="How long it lives: the audio's length and 15 minutes, at most a day.")


class Word(Model):
    start: Seconds
    end: Seconds
    word: str
    probability: float | None = Field(default=None, ge=0, le=1)
    speaker: Speaker | None = None


class SegmentIn(Model):
    start: Seconds
    end: Seconds
    text: str = Field(max_length=20_000)
    words: list[Word] | None = None
    avg_logprob: float | None = None
    no_speech_prob: float | None = Field(default=None, ge=0, le=1)
    speaker: Speaker | None = None

    @model_validator(mode="after")
    def _ordered(self) -> SegmentIn:
        if self.end < self.start:
            raise ValueError("segment end is before its start")
        return self


class SegmentOut(SegmentIn):
    model_config = ConfigDict(from_attributes=True, extra="ignore")
    id: uuid.UUID
    position: int


class TranscriptIn(Model):
    """A finished transcription. `job_id` is the idempotency key: a second push returns the first result."""

    job_id: uuid.UUID
    asset_id: uuid.UUID | None = None
    text: str | None = Field(default=None, description="Full text; joined from the segments when absent.")
    language: str | None = Field(default=None, max_length=32)
    language_probability: float | None = Field(
        default=None, ge=0, le=1, description="How sure the model was of `language`, when it detected it."
    )
    model: str | None = Field(default=None, max_length=500)
    engine: str | None = Field(default=None, max_length=100)
    device: Device | None = None
    duration_seconds: float | None = Field(default=None, ge=0, le=MAX_SECONDS)
    processing_seconds: float | None = Field(default=None, ge=0, le=MAX_SECONDS)
    timings: dict[Annotated[str, Field(max_length=100)], float] = Field(default_factory=dict, max_length=100)
    segments: list[SegmentIn] = Field(default_factory=list, max_length=MAX_SEGMENTS)


class TranscriptSummary(Model):
    model_config = ConfigDict(from_attributes=True, extra="ignore")
    id: uuid.UUID
    job_id: uuid.UUID
    asset_id: uuid.UUID | None
    language: str | None
    language_probability: float | None
    model: str | None
    engine: str | None
    device: str | None
    duration_seconds: float | None
    processing_seconds: float | None
    timings: dict[str, float]
    segment_count: int
    created_by: str
    created_at: datetime


class TranscriptOut(TranscriptSummary):
    text: str
    segments: list[SegmentOut]


def _one_of_sources(schema: dict[str, Any]) -> None:
    """The document says what the validator holds: exactly one of the three is given (not null)."""
    schema["oneOf"] = [
        {"required": [name], "properties": {name: {"not": {"type": "null"}}}} for name in ("url", "asset_id", "path")
    ]


def _not_nullable(schema: dict[str, Any]) -> None:
    """A field that may be left out but is never null (a patch keeps what it leaves out): its schema without null."""
    alternatives = [choice for choice in schema.pop("anyOf", []) if choice.get("type") != "null"]
    schema.pop("default", None)
    if len(alternatives) == 1:
        schema.update(alternatives[0])
    elif alternatives:
        schema["anyOf"] = alternatives


class JobSource(Model):
    """Exactly one of url, asset_id, path."""

    model_config = ConfigDict(json_schema_extra=_one_of_sources)

    url: AnyHttpUrl | None = Field(default=None, json_schema_extra={"pattern": "^[Hh][Tt][Tt][Pp][Ss]?://[^/?#@\\s]+"})
    asset_id: uuid.UUID | None = None
    path: str | None = Field(default=None, max_length=4096)

    @model_validator(mode="after")
    def _exactly_one(self) -> JobSource:
        given = [name for name in ("url", "asset_id", "path") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError("source needs exactly one of url, asset_id, path")
        return self


class JobState(Model):
    """Where a job stands: what a patch changes, and what a record may start from."""

    phase: Phase | None = None
    device: Device | None = None
    attempts: Count | None = None
    error: str | None = Field(default=None, max_length=10_000)
    transcript_id: uuid.UUID | None = None
    started_at: Rfc3339 | None = None
    finished_at: Rfc3339 | None = None


class JobIn(JobState):
    """A job record; the state fields say where it stands when created, so that a writer that sees it first
    mid-way records it in one call (unset: Pending, no device, no attempts)."""

    id: uuid.UUID | None = Field(default=None, description="Client-chosen id; creating it again returns it.")
    name: str | None = Field(default=None, max_length=300)
    source: JobSource
    parameters: dict[str, Any] = Field(default_factory=dict)


class JobPatch(JobState):
    """A change of a job's state (only the fields sent are changed; `phase` and `attempts` cannot be null)."""

    phase: Phase | None = Field(default=None, json_schema_extra=_not_nullable)
    attempts: Count | None = Field(default=None, json_schema_extra=_not_nullable)

    @model_validator(mode="after")
    def _not_null(self) -> JobPatch:
        nulled = [
            name for name in ("phase", "attempts") if name in self.model_fields_set and getattr(self, name) is None
        ]
        if nulled:
            raise ValueError(f"{', '.join(nulled)} cannot be null (leave a field out to keep it)")
        return self


class JobOut(Model):
    id: uuid.UUID
    name: str | None
    source: dict[str, Any]
    parameters: dict[str, Any]
    phase: Phase
    device: str | None
    attempts: int
    error: str | None
    transcript_id: uuid.UUID | None
    created_by: str
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class SearchHit(Model):
    segment_id: uuid.UUID
    transcript_id: uuid.UUID
    asset_id: uuid.UUID | None
    position: int
    start: float
    end: float
    text: str
    language: str | None
    speaker: str | None = None
    score: float = Field(
        description="semantic: cosine similarity; fulltext: ts_rank_cd (cover density); hybrid: reciprocal rank fusion "
        "(the sum over both rankings of 1 / (60 + rank)). Higher is closer."
    )


class SpeakerTalk(Model):
    speaker: str
    talk_seconds: float = Field(description="The length of the speaker's segments, summed.")
    segments: int
    first_start: float = Field(description="When the speaker first speaks (seconds).")


class TranscriptSpeakers(Model):
    transcript_id: uuid.UUID
    items: list[SpeakerTalk] = Field(description="Speakers by talk time, most first.")


SearchMode = Literal["hybrid", "semantic", "fulltext"]


class SearchResult(Model):
    query: str
    mode: SearchMode = Field(description="How the hits were found (auto answers hybrid or fulltext).")
    items: list[SearchHit]


class AuditOut(Model):
    id: uuid.UUID
    seq: int
    ts: datetime
    actor: str
    action: str
    entity_type: str | None
    entity_id: str | None
    outcome: Literal["ok", "refused", "error"]
    status_code: int
    request_id: str | None
    method: str
    path: str
    detail: dict[str, Any]


class WebhookIn(Model):
    url: AnyHttpUrl
    events: list[EventType] = Field(min_length=1)
    secret: str | None = Field(
        default=None, min_length=16, max_length=200, description="HMAC key; generated when absent."
    )
    description: str | None = Field(default=None, max_length=500)


class WebhookOut(Model):
    id: uuid.UUID
    url: str
    events: list[str]
    description: str | None
    active: bool
    created_by: str
    created_at: datetime


class WebhookCreated(WebhookOut):
    secret: str = Field(description="The signing secret; shown only once.")


class DeliveryOut(Model):
    id: uuid.UUID
    webhook_id: uuid.UUID
    event: EventType
    payload: dict[str, Any]
    state: Literal["pending", "delivered", "dead"]
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


class AttemptOut(Model):
    id: uuid.UUID
    delivery_id: uuid.UUID
    attempt: int
    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: float
