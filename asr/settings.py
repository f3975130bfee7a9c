"""ASR settings: one object, read once from `DHG_ASR_*` environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from asr.bundled import PREPARED_ROOT
from dhg_core import whisper
from dhg_core.vocabulary import DeviceChoice
from dhg_core.worker import SETTINGS_ENV_PREFIX, TERMINATION_LOG

EngineName = Literal["faster-whisper", "openai-whisper"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=SETTINGS_ENV_PREFIX, extra="ignore")

    engine: EngineName = "faster-whisper"
    device: DeviceChoice = "auto"
    default_model: str = Field(
        default=whisper.DEFAULT_MODEL,
        description="The model a request without one (or with an alias to '') gets: the multilingual base, so that "
        "any language is heard and translated; 'tiny.en' is faster on English only.",
    )
    models: dict[str, str] = Field(
        default_factory=whisper.default_models,
        description="Model names users may ask for → a CTranslate2 model directory, an openai-whisper .pt "
        "checkpoint, 'bundled' (the model of that name that comes with the package: tiny.en, base) or "
        "'bundled:<name>' (one of them under another name).",
    )
    model_aliases: dict[str, str] = Field(
        default_factory=whisper.default_aliases,
        description="Model names clients written for OpenAI send → a model served here ('' is the default model), "
        'e.g. DHG_ASR_MODEL_ALIASES=\'{"gpt-4o-transcribe": "large-v3"}\'; OpenAI\'s names not given keep meaning '
        "the default model.",
    )
    model_cache_dir: Path = Path.home() / ".cache" / "dhg" / "models"
    prepared_models_dir: Path = Field(
        default=PREPARED_ROOT,
        description="Where prepared copies of the bundled models are (python -m asr.quantize; the images' int8 "
        "ones): a complete copy there is served in place of the wheels' model.",
    )
    model_idle_seconds: float = 600.0
    cpu_threads: int = 0
    beam_size: int = 5
    batch_size: int = Field(
        default=8,
        ge=1,
        description="Above 1, decode faster-whisper's 30 s windows (VAD splits the audio) through the model's "
        "batcher, at most this many at once: the windows of every request waiting on the model, and of one long "
        "file, share batches (asr/batching.py; bench/asr measures it). 1 decodes each request in sequence. 8 suits "
        "a CPU; a GPU with memory to spare takes 16 or more.",
    )
    batch_wait_ms: float = Field(
        default=10.0,
        ge=0,
        description="How long the batcher waits after a window arrives for others to fill its batch.",
    )
    batch_trim: bool = Field(
        default=False,
        description="Encode only a short window's audio and a margin (rounded up to 5 s), not Whisper's whole 30 s: "
        "about twice as fast on short requests on a CPU, at some accuracy (bench/README.md, batching).",
    )
    batch_across_requests: bool = Field(
        default=True,
        description="Off: a batch holds one request's windows only (faster-whisper's batched pipeline, one request "
        "at a time: the benchmark's baseline).",
    )
    concurrency: int | None = Field(
        default=None,
        ge=1,
        description="Transcriptions decoded at once (each in its own thread; with batching, their windows meet in "
        "the model's batcher). Unset: batch_size (1 with batching off).",
    )
    queue_size: int = 8
    retry_after_seconds: int = 5
    max_upload_bytes: int = 1024**3
    max_audio_seconds: float = 6 * 3600
    chunk_seconds: float = Field(
        default=120.0,
        description="Audio is decoded and transcribed this many seconds at a time (cut at a quiet point). "
        "Bounds memory: faster-whisper's VAD holds state for its whole input, so memory grows with the length "
        "of one piece and stays flat over many (bench/asr measures it).",
    )
    realtime_sessions: int = Field(
        default=4,
        ge=0,
        description="Live sessions (/v1/realtime) open at once; each also holds one of the `concurrency` decoders "
        "while it is open, so files and live sessions share admission. 0 turns live transcription off.",
    )
    realtime_max_session_seconds: float = Field(
        default=1800.0, gt=0, description="A live session ends after this long (OpenAI's: 30 minutes)."
    )
    realtime_idle_seconds: float = Field(
        default=120.0, gt=0, description="A live session whose client sends nothing for this long is closed."
    )
    realtime_max_buffer_seconds: float = Field(
        default=300.0, gt=0, description="Audio a live session holds uncommitted; more is refused until a commit."
    )
    realtime_max_event_bytes: int = Field(
        default=15 * 1024 * 1024, ge=1024, description="The largest client event taken (OpenAI's: 15 MiB)."
    )
    realtime_interval_ms: float = Field(
        default=700.0,
        ge=100,
        description="While a turn is spoken, it is decoded again after this much more audio; the words two decodes "
        "in a row agree on are sent as deltas.",
    )
    realtime_send_timeout_seconds: float = Field(
        default=10.0, gt=0, description="A live client that reads nothing for this long while events wait is dropped."
    )
    diarization_backend: str = Field(
        default="ge2e",
        description="Who spoke when, for diarized_json and known speakers (asr/diarization): 'ge2e' (offline: the "
        "GE2E encoder of `pip install --no-deps resemblyzer==0.1.4`), or 'off'.",
    )
    api_key: SecretStr | None = Field(default=None, description="When set, transcription calls need it.")
    registry_url: str | None = None
    registry_token: SecretStr | None = None
    outbox_dir: Path = Path("./.local/asr-outbox")
    spool_dir: Path = Field(
        default=Path("./.local/asr-spool"), description="Audio of async jobs and streams, held until decoded."
    )
    job_retention_seconds: float = Field(default=3600.0, description="How long a finished async job stays here.")
    outbox_retry_base_seconds: float = 1.0
    outbox_retry_max_seconds: float = 300.0
    worker_allowed_roots: list[Path] = Field(
        default_factory=lambda: [Path("/data")], description="Worker `path` sources must lie under one of these."
    )
    worker_allow_private: bool = Field(
        default=False,
        description="Worker `url` sources may be on loopback, private and link-local addresses (dhg_core/egress.py).",
    )
    worker_allowed_networks: list[str] = Field(
        default_factory=list,
        description="Networks (CIDR) a worker's `url` source may reach though not public, e.g. an in-cluster store.",
    )
    termination_log: Path = Path(TERMINATION_LOG)
    delivery_timeout_seconds: float = 120.0
    log_level: str = "INFO"
    # The TranscriptionJob a worker runs for (namespace/name, from the controller): every log line carries it as
    # `job`, as the controller's lines about the job do, so that Loki finds both by one filter.
    job: str | None = None
    service_name: str = "asr"

    @property
    def window_batch(self) -> int:
        """How many windows of concurrent requests a model decodes together: the batch size with faster-whisper;
        1 with openai-whisper, which decodes each request on its own."""
        return self.batch_size if self.engine == "faster-whisper" else 1

    @property
    def decoders(self) -> int:
        """How many transcriptions run at once: `concurrency`, or as many as one batch holds."""
        return self.concurrency if self.concurrency is not None else max(1, self.batch_size)

    @field_validator("model_aliases")
    @classmethod
    def _openai_names_kept(cls, value: dict[str, str]) -> dict[str, str]:
        return {**whisper.default_aliases(), **value}

    @field_validator("device", mode="before")
    @classmethod
    def _cuda_means_gpu(cls, value: object) -> object:
        """`cuda` (the libraries' word, and this setting's before 0.2) is read as `gpu`."""
        return "gpu" if value == "cuda" else value


@lru_cache
def get_settings() -> Settings:
    return Settings()
