"""Operator settings: one object, read once from `DHG_CONTROLLER_*` environment variables (the chart sets them)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from controller.manifests import WORKER_COMMAND, WorkerConfig


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DHG_CONTROLLER_", extra="ignore")

    namespaces: list[str] = Field(default_factory=list, description="Namespaces to watch; empty: the whole cluster.")
    worker_image: str = WorkerConfig.image
    worker_gpu_image: str = WorkerConfig.gpu_image
    worker_image_pull_policy: str = "IfNotPresent"
    worker_command: list[str] = Field(default_factory=lambda: list(WORKER_COMMAND))
    worker_service_account: str = "dhg-worker"
    worker_registry_url: str = "http://dhg-registry:8000"
    worker_registry_token_secret: str = "dhg-worker-registry-token"  # noqa: S105 (a Secret's name)
    gpu_node_selector: dict[str, str] = Field(default_factory=lambda: {"nvidia.com/gpu.present": "true"})
    cpu_node_selector: dict[str, str] = Field(default_factory=dict)
    data_claim: str | None = None
    worker_scratch_mount: str = Field(default="/tmp", description="Where the worker's writable emptyDir goes.")  # noqa: S108
    ttl_seconds_after_finished: int = 3600
    registry_url: str | None = Field(default=None, description="Where job records go; none: not recorded.")
    registry_token: SecretStr | None = None
    peering_name: str = "dhg-controller"
    standalone: bool = Field(default=False, description="No peering: only for a single replica.")
    liveness_port: int = 8080
    metrics_port: int = 9090
    log_level: str = "INFO"

    def worker_config(self) -> WorkerConfig:
        return WorkerConfig(
            image=self.worker_image,
            gpu_image=self.worker_gpu_image,
            image_pull_policy=self.worker_image_pull_policy,
            command=tuple(self.worker_command),
            service_account=self.worker_service_account,
            registry_url=self.worker_registry_url,
            registry_token_secret=self.worker_registry_token_secret,
            gpu_node_selector=self.gpu_node_selector,
            cpu_node_selector=self.cpu_node_selector,
            data_claim=self.data_claim,
            scratch_mount=self.worker_scratch_mount,
            ttl_seconds_after_finished=self.ttl_seconds_after_finished,
        )


@lru_cache
def get_settings() -> Settings:
    return Settings()
