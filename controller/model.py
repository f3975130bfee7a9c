"""The TranscriptionJob custom resource, as Pydantic models: the one source of truth.

`crds/transcriptionjob.yaml` is generated from these (`python -m controller.crd`); a test fails when the two
drift. Field names are the API's (camelCase). Rules a structural schema cannot state (exactly one source, the
spec's immutability) are CEL rules in the CRD and validators here, so the API server and the operator agree.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from pydantic import AnyUrl, BaseModel, ConfigDict, Field, UrlConstraints, field_validator, model_validator

from dhg_core import speakers
from dhg_core.languages import LANGUAGES
from dhg_core.vocabulary import Device, DeviceChoice, Phase

GROUP = "factory.dhg.ai"
VERSION = "v1alpha1"
KIND = "TranscriptionJob"
PLURAL = "transcriptionjobs"
SINGULAR = "transcriptionjob"
SHORT_NAMES = ("tj",)
CATEGORIES = ("dhg",)
API_VERSION = f"{GROUP}/{VERSION}"

OutputFormat = Literal["json", "text", "srt", "vtt", "tsv"]
ConditionType = Literal["Scheduled", "Running", "GPUFallback", "Succeeded", "Failed", "Cancelled"]
AUTO_LANGUAGE = "auto"
HttpUrl = Annotated[AnyUrl, UrlConstraints(allowed_schemes=["http", "https"], max_length=4096)]
Quantity = Annotated[str, Field(pattern=r"^[0-9]+(\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti)?$", max_length=32)]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Source(Model):
    """Where the audio is: exactly one of a URL, a Registry asset, or a file on a mounted volume."""

    url: HttpUrl | None = Field(
        default=None, description="An http(s) URL the worker downloads.", json_schema_extra={"pattern": "^https?://"}
    )
    asset_id: uuid.UUID | None = Field(default=None, alias="assetId", description="A Registry media asset id.")
    path: str | None = Field(
        default=None,
        pattern=r"^/",
        max_length=4096,
        description="An absolute path on the data volume mounted into the worker.",
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> Source:
        if sum(value is not None for value in (self.url, self.asset_id, self.path)) != 1:
            raise ValueError("source needs exactly one of url, assetId, path")
        return self


class Fallback(Model):
    after_seconds: int = Field(
        default=120,
        ge=0,
        le=86_400,
        alias="afterSeconds",
        description="With device auto: fall back to CPU when the GPU pod is still unschedulable after this long.",
    )


class Diarization(Model):
    """Who spoke when (asr/diarization): each segment and word of the transcript gets its speaker."""

    enabled: bool = Field(default=False, description="Find the speakers: A, B, ... on each segment.")
    min_speakers: int | None = Field(
        default=None, ge=speakers.MIN_SPEAKERS, le=speakers.MAX_SPEAKERS, alias="minSpeakers"
    )
    max_speakers: int | None = Field(
        default=None, ge=speakers.MIN_SPEAKERS, le=speakers.MAX_SPEAKERS, alias="maxSpeakers"
    )

    @model_validator(mode="after")
    def _ordered(self) -> Diarization:
        error = speakers.bounds_error(self.min_speakers, self.max_speakers, ("minSpeakers", "maxSpeakers"))
        if error is not None:
            raise ValueError(f"diarization.{error}")
        return self


class Quantities(Model):
    cpu: Quantity | None = None
    memory: Quantity | None = None


class Resources(Model):
    """Overrides of the worker container's requests and limits."""

    requests: Quantities | None = None
    limits: Quantities | None = None


class TranscriptionJobSpec(Model):
    source: Source
    model: str | None = Field(
        default=None,
        min_length=1,
        max_length=500,
        description="A model the workers serve, by name or alias (`base`, `tiny.en`, `whisper-1`, ...; the chart's "
        "asr.models and asr.modelAliases); unset: the default model (asr.defaultModel, the multilingual base).",
    )
    language: str = Field(
        default="auto",
        json_schema_extra={"enum": [AUTO_LANGUAGE, *LANGUAGES]},
        description="`auto` (detect it), or the spoken language's code (one of Whisper's).",
    )
    task: Literal["transcribe", "translate"] = "transcribe"
    word_timestamps: bool = Field(default=False, alias="wordTimestamps")
    vad: bool = Field(default=True, description="Skip silence before decoding (avoids hallucinations).")
    diarization: Diarization = Field(default=Diarization())
    output_formats: list[OutputFormat] = Field(
        default=["json"],
        alias="outputFormats",
        min_length=1,
        max_length=5,
        description="Renderings to link in the status (the Registry renders each on demand).",
    )
    device: DeviceChoice = Field(default="auto", description="auto: GPU, falling back to CPU; gpu: GPU only; cpu.")
    fallback: Fallback = Field(default=Fallback())
    max_retries: int = Field(default=2, ge=0, le=10, alias="maxRetries", description="Retries of transient failures.")
    active_deadline_seconds: int = Field(
        default=3600, ge=60, le=7 * 86_400, alias="activeDeadlineSeconds", description="Per attempt."
    )
    priority_class_name: str | None = Field(
        default=None, alias="priorityClassName", max_length=253, description="The worker pods' PriorityClass."
    )
    resources: Resources | None = None

    @field_validator("language")
    @classmethod
    def _known_language(cls, value: str) -> str:
        if value != AUTO_LANGUAGE and value not in LANGUAGES:
            raise ValueError(f"language {value[:40]!r} is not one Whisper knows: auto, or a code such as en or de")
        return value


class Condition(Model):
    """A condition in the Kubernetes API conventions."""

    type: ConditionType
    status: Literal["True", "False", "Unknown"]
    reason: str = Field(pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$", max_length=1024)
    message: str = Field(default="", max_length=32_768)
    last_transition_time: str = Field(alias="lastTransitionTime", description="RFC 3339, UTC.")
    observed_generation: int | None = Field(default=None, ge=0, alias="observedGeneration")


class TranscriptionJobStatus(Model):
    phase: Phase | None = None
    device: Device | None = None
    attempts: int | None = Field(default=None, ge=0, description="Workers launched (retries and fallback count).")
    failed_attempts: int | None = Field(default=None, ge=0, alias="failedAttempts")
    job_name: str | None = Field(default=None, alias="jobName")
    pod_name: str | None = Field(default=None, alias="podName")
    node_name: str | None = Field(default=None, alias="nodeName")
    transcript_id: str | None = Field(default=None, alias="transcriptId")
    audio_seconds: float | None = Field(default=None, alias="audioSeconds")
    processing_seconds: float | None = Field(default=None, alias="processingSeconds")
    real_time_factor: float | None = Field(default=None, alias="realTimeFactor")
    start_time: str | None = Field(default=None, alias="startTime", json_schema_extra={"format": "date-time"})
    completion_time: str | None = Field(default=None, alias="completionTime", json_schema_extra={"format": "date-time"})
    next_attempt_time: str | None = Field(
        default=None, alias="nextAttemptTime", json_schema_extra={"format": "date-time"}
    )
    message: str | None = None
    observed_generation: int | None = Field(default=None, alias="observedGeneration")
    outputs: dict[str, str] | None = Field(
        default=None,
        description="On success: each of spec.outputFormats → the URL the Registry renders the transcript at.",
    )
    conditions: list[Condition] = Field(default_factory=list)


class ObjectMeta(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str | None = None
    namespace: str | None = None
    uid: str | None = None
    generation: int | None = None


class TranscriptionJob(Model):
    api_version: Literal["factory.dhg.ai/v1alpha1"] = Field(default="factory.dhg.ai/v1alpha1", alias="apiVersion")
    kind: Literal["TranscriptionJob"] = "TranscriptionJob"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: TranscriptionJobSpec
    status: TranscriptionJobStatus | None = None

    @classmethod
    def from_body(cls, body: Any) -> TranscriptionJob:
        """From the API server's object (Kopf's body or a plain dict)."""
        return cls.model_validate(dict(body))
