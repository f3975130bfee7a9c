"""Registry settings: one object, read once from `DHG_REGISTRY_*` environment variables.

`set_library_environment` is the one place the Registry writes the environment: for the few libraries that read
their own variables when they load (prometheus-client's multiprocess folder, Hugging Face's offline mode)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DHG_REGISTRY_", env_nested_delimiter="__", extra="ignore")

    database_url: str = "postgresql+psycopg://postgres@127.0.0.1:5432/dhg"
    db_pool_size: int = 10
    db_max_overflow: int = 10
    storage: Literal["local", "s3"] = Field(
        default="local", description="Where media bytes live: `storage_dir` (a PVC in the cluster) or an S3 bucket."
    )
    storage_dir: Path = Path("./.local/registry-media")
    asr_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$",
        description="The ASR service's address as browsers reach it, for the viewer's Live page (its WebSocket, "
        "/v1/realtime). Unset: this host (behind the chart's Ingress or HTTPRoute, which route /v1/realtime there).",
    )
    s3_endpoint: str = Field(default="", description="The S3 API's URL (MinIO, SeaweedFS, ...); empty: AWS's own.")
    s3_bucket: str = ""
    s3_region: str = ""
    s3_prefix: str = Field(
        default="", description="Object keys start with this folder (several Registries, one bucket)."
    )
    s3_access_key_id: SecretStr | None = Field(
        default=None, description="From a Secret; unset: boto3's own chain (workload identity, instance profile)."
    )
    s3_secret_access_key: SecretStr | None = None
    service_tokens: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="Write tokens of the factory's own services, by name (DHG_REGISTRY_SERVICE_TOKENS__WORKER=...: "
        "the ASR service, the workers, the controller), each from a Secret; compared in constant time, never stored. "
        "Their calls are audited as service:<name>.",
    )
    admin_token: SecretStr | None = Field(
        default=None, description="Bootstrap admin bearer token; compared in constant time, never stored."
    )
    max_upload_bytes: int = 2 * 1024**3
    max_json_bytes: int = 32 * 1024**2
    page_limit_max: int = 500
    token_cache_seconds: float = 2.0
    embeddings: Literal["auto", "on", "off"] = "auto"
    embedding_model: str = "bundled"
    embeddings_worker: bool = Field(
        default=True, description="Embed the segment backlog in this process (else leave it to registry.worker)."
    )
    embedding_batch_size: int = 64
    embedding_threads: int = Field(
        default=1, description="torch threads for embeddings: one keeps query latency steady beside the API."
    )
    embedding_poll_seconds: float = 1.0
    webhooks_enabled: bool = True
    webhook_poll_seconds: float = 1.0
    webhook_timeout_seconds: float = 10.0
    webhook_max_attempts: int = 12
    webhook_backoff_base_seconds: float = 2.0
    webhook_backoff_max_seconds: float = 3600.0
    webhook_allow_private: bool = Field(
        default=False,
        description="Deliver webhooks to any unicast address, internal ones included (dhg_core/egress.py).",
    )
    webhook_secret_key: SecretStr | None = Field(
        default=None,
        description="The key webhook signing secrets are sealed under at rest (registry/sealing.py); any "
        "high-entropy string. Unset: secrets are stored in clear (and each start says so).",
    )
    webhook_previous_secret_keys: list[SecretStr] = Field(
        default_factory=list,
        description="Keys secrets were sealed under before the current one (rotation): they open, and each start "
        "re-seals under the current key.",
    )
    webhook_allowed_networks: list[str] = Field(
        default_factory=list, description="Non-public networks (CIDR) webhook subscribers may be on."
    )
    stats_interval_seconds: float = Field(default=15.0, description="How often the stored-total gauges refresh.")
    hot_routes: bool = Field(
        default=True,
        description="Answer transcript push and JSON read without FastAPI's per-request machinery (registry.hotpath).",
    )
    push_writers: int = Field(
        default=10,
        description="Transcript pushes written at once (at most the pool's size is useful); pushes arriving while "
        "all writers are busy are grouped into one transaction each (registry.batching). 0 writes every push alone.",
    )
    push_batch_max: int = Field(default=16, description="The most pushes grouped into one transaction.")
    opentelemetry: bool = Field(
        default=False,
        description="Let FastAPI export OpenTelemetry traces, metrics and logs to the configured providers.",
    )
    workers: int = Field(
        default=1, ge=1, le=64, description="Server processes of `dhg-registry serve` (one per core the host has)."
    )
    log_level: str = "INFO"
    service_name: str = "registry"


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, built once."""
    return Settings()


def set_library_environment(variables: Mapping[str, str], *, keep_existing: bool = False) -> None:
    """Set environment variables that a library reads for itself (in this process, and in the ones it starts).
    With `keep_existing`, a value the operator set already wins."""
    for name, value in variables.items():
        if keep_existing:
            os.environ.setdefault(name, value)
        else:
            os.environ[name] = value


def library_environment(name: str) -> str | None:
    """A variable a library reads for itself (prometheus-client's multiprocess folder), as this process sees it."""
    return os.environ.get(name)
