"""Settings of the `dhg` command line: one object, read once from `DHG_*` environment variables.

Command-line options override these; the Registry's own `DHG_REGISTRY_*` settings are passed through to it.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import platformdirs
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

APP_NAME = "dhg"
DEFAULT_REGISTRY_PORT = 8000
DEFAULT_ASR_PORT = 8001
DEFAULT_PROMETHEUS_PORT = 9090


def default_data_dir() -> Path:
    """Where local mode keeps its database, media, logs and admin token."""
    return platformdirs.user_data_path(APP_NAME)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DHG_", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir)
    registry_url: str | None = Field(
        default=None, description="The Registry to talk to; by default the one `dhg up` runs for data_dir."
    )
    token: SecretStr | None = Field(default=None, description="Bearer token; default: the local admin token.")
    asr_url: str | None = Field(
        default=None, description="The ASR service to talk to; by default the one `dhg up` runs for data_dir."
    )
    asr_api_key: SecretStr | None = Field(
        default=None,
        description="The ASR service's API key (the same variable the service reads); default: the local one.",
    )
    registry_port: int = DEFAULT_REGISTRY_PORT
    asr_port: int = DEFAULT_ASR_PORT
    postgres_port: int = Field(default=0, description="0 picks a free port at each start.")
    prometheus_url: str | None = Field(
        default=None, description="The Prometheus `dhg status` asks for firing alerts; default: `dhg up`'s."
    )
    monitoring: bool = Field(default=False, description="`dhg up` also starts Prometheus (--monitoring).")
    prometheus_port: int = DEFAULT_PROMETHEUS_PORT
    parallel: int = Field(default=0, ge=0, description="TranscriptionJob workers at once; 0: one per two cores.")
    warm_worker: bool = Field(
        default=True,
        description="`dhg up` keeps a worker's interpreter started (imports done) ahead of the next TranscriptionJob.",
    )
    data_root: Path | None = Field(
        default=None,
        description="Where a TranscriptionJob's `source.path` (/data/...) points locally; default: the directory "
        "`dhg up` starts in. Paths outside it are refused.",
    )
    start_timeout_seconds: float = 90.0
    http_timeout_seconds: float = 30.0
    transcribe_timeout_seconds: float = Field(default=3600.0, description="How long one file may take.")
    store_timeout_seconds: float = Field(
        default=60.0, description="How long `dhg up` waits for the sample's transcript to reach the Registry."
    )
    search_timeout_seconds: float = Field(
        default=60.0,
        description="How long `dhg up` waits for semantic search to cover the sample before it searches full text.",
    )


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, built once."""
    return Settings()


def inherited_environment() -> dict[str, str]:
    """This process's environment, read now: what the services local mode starts inherit (PATH, a model cache,
    the user's DHG_REGISTRY_* and DHG_ASR_* settings)."""
    return dict(os.environ)
