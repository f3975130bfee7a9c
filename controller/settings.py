"""Operator settings: one object, read once from `DHG_CONTROLLER_*` environment variables (the chart sets them)
and, outside a pod, the standard `KUBECONFIG`.

How workers run is `worker`, a `WorkerConfig`, set field by field with a double underscore:
`DHG_CONTROLLER_WORKER__IMAGE`, `DHG_CONTROLLER_WORKER__GPU_NODE_SELECTOR='{"pool": "gpu"}'` (JSON for dicts
and lists)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from controller.manifests import WorkerConfig


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DHG_CONTROLLER_", env_nested_delimiter="__", extra="ignore")

    namespaces: list[str] = Field(default_factory=list, description="Namespaces to watch; empty: the whole cluster.")
    kubeconfig: str | None = Field(
        default=None,
        validation_alias="KUBECONFIG",  # the standard variable, unprefixed: kubectl's and Kopf's login read it too
        description="Outside a pod: the kubeconfig file(s), as kubectl reads them; in a pod: unused.",
    )
    worker: WorkerConfig = Field(default_factory=WorkerConfig)
    registry_url: str | None = Field(default=None, description="Where job records go; none: not recorded.")
    registry_token: SecretStr | None = None
    peering_name: str = "dhg-controller"
    standalone: bool = Field(default=False, description="No peering: only for a single replica.")
    liveness_port: int = 8080
    metrics_port: int = 9090
    log_level: str = "INFO"


@lru_cache
def get_settings() -> Settings:
    return Settings()
