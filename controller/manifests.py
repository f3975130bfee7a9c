"""The worker's batch/v1 Job for one attempt of a TranscriptionJob (pure: a dict in, a dict out).

The Job runs `python -m asr.worker` once (`backoffLimit: 0`: the operator owns retries, so a bad input is never
retried and a transient failure is retried with backoff), is owned by the TranscriptionJob (deleting that
deletes the Job and its pod), and has a name fixed by (job, placement, attempt), so creating it again after a
controller restart answers 409 instead of starting a second worker.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from controller.model import API_VERSION, KIND, TranscriptionJob
from dhg_core import whisper
from dhg_core.vocabulary import Device
from dhg_core.worker import SETTINGS_ENV_PREFIX, TERMINATION_LOG

WORKER_COMMAND = ["python", "-m", "asr.worker"]
LABEL_JOB = "factory.dhg.ai/transcriptionjob"
LABEL_PLACEMENT = "factory.dhg.ai/placement"
LABEL_ATTEMPT = "factory.dhg.ai/attempt"
GPU_RESOURCE = "nvidia.com/gpu"
DATA_MOUNT = "/data"
MODELS_MOUNT = "/models"
SCRATCH_MOUNT = "/tmp"  # noqa: S108 (an emptyDir: the root filesystem is read-only)
MAX_NAME = 63


def _text(value: Any) -> Any:
    """Chart values as Kubernetes writes them: `cpu: 1` is the quantity "1", a label value `true` is "true"."""
    if isinstance(value, bool):
        return str(value).lower()
    return str(value) if isinstance(value, int | float) else value


Text = Annotated[str, BeforeValidator(_text)]


class WorkerConfig(BaseModel):
    """How workers run in this cluster (the chart's values, passed to the operator)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    image: str = "ghcr.io/dhg-ai/factory-asr:0.1.0"  # the ASR service's image runs the worker too
    gpu_image: str = "ghcr.io/dhg-ai/factory-asr:0.1.0-cuda"
    image_pull_policy: str = "IfNotPresent"
    command: tuple[str, ...] = tuple(WORKER_COMMAND)  # the image's Python; tests run the worker with theirs
    # None: the namespace's `default` account (workers never call the Kubernetes API; no token is mounted).
    service_account: str | None = None
    registry_url: str = "http://dhg-registry:8000"
    registry_token_secret: str = "dhg-worker-registry-token"  # noqa: S105 (a Secret's name, not a secret)
    registry_token_key: str = "token"  # noqa: S105 (the key in that Secret)
    gpu_node_selector: dict[str, Text] = Field(default_factory=lambda: {"nvidia.com/gpu.present": "true"})
    cpu_node_selector: dict[str, Text] = Field(default_factory=dict)
    cpu_tolerations: list[dict[str, Any]] = Field(default_factory=list)
    gpu_requests: dict[str, Text] = Field(default_factory=lambda: {"cpu": "1", "memory": "2Gi"})
    gpu_limits: dict[str, Text] = Field(default_factory=lambda: {"memory": "6Gi"})
    cpu_requests: dict[str, Text] = Field(default_factory=lambda: {"cpu": "2", "memory": "1536Mi"})
    cpu_limits: dict[str, Text] = Field(default_factory=lambda: {"memory": "3Gi"})
    data_claim: str | None = None  # a PVC mounted read-only at /data, for `source.path`
    model_claim: str | None = None  # the model cache PVC the ASR service also reads, mounted read-only at /models
    models: dict[str, str] = Field(default_factory=whisper.default_models)  # name → "bundled" or a path
    default_model: str = whisper.DEFAULT_MODEL  # what a job without spec.model gets
    model_aliases: dict[str, str] = Field(default_factory=whisper.default_aliases)  # alias → model ('': the default)
    # The worker's DHG_ASR_BATCH_SIZE (the chart's asr.batchSize, as the ASR service's): above 1, a long file's
    # windows are decoded in batches with each other (asr/batching.py).
    batch_size: int = Field(default=8, ge=1)

    @field_validator("model_aliases")
    @classmethod
    def _openai_names_kept(cls, value: dict[str, str]) -> dict[str, str]:
        """As the ASR settings: OpenAI's names not given keep meaning the default model."""
        return {**whisper.default_aliases(), **value}

    def served_model(self, requested: str | None) -> str | None:
        """The served model a job's spec.model means; None when the workers serve none by that name."""
        return whisper.resolve(requested, self.models, self.model_aliases, self.default_model)

    ttl_seconds_after_finished: int = 3600
    scratch_size: str = "4Gi"
    scratch_mount: str = SCRATCH_MOUNT  # the writable emptyDir (with a read-only root filesystem)
    run_as_user: int = 10001
    # Non-public networks a `source.url` may be on (dhg_core/egress.py refuses internal addresses by default).
    url_source_allowed_networks: tuple[str, ...] = ()


def job_name(name: str, placement: Device, attempt: int) -> str:
    """`<name>-<placement>-<attempt>`, shortened with a hash when longer than a label value may be."""
    full = f"{name}-{placement}-{attempt}"
    if len(full) <= MAX_NAME:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:8]
    suffix = f"-{digest}-{placement}-{attempt}"
    return name[: MAX_NAME - len(suffix)].rstrip("-.") + suffix


def worker_args(job: TranscriptionJob, placement: Device) -> list[str]:
    spec, uid = job.spec, job.metadata.uid
    if not uid:
        raise ValueError("the TranscriptionJob has no uid yet")
    args = ["--job-id", uid, "--language", spec.language, "--task", spec.task]
    if spec.model is not None:  # else the worker's default model (DHG_ASR_DEFAULT_MODEL, set below)
        args += ["--model", spec.model]
    if spec.source.url is not None:
        args += ["--url", str(spec.source.url)]
    elif spec.source.asset_id is not None:
        args += ["--asset-id", str(spec.source.asset_id)]
    else:
        args += ["--path", str(spec.source.path)]
    args.append("--word-timestamps" if spec.word_timestamps else "--no-word-timestamps")
    args.append("--vad" if spec.vad else "--no-vad")
    if spec.diarization.enabled:
        args.append("--speakers")
        if spec.diarization.min_speakers:
            args += ["--min-speakers", str(spec.diarization.min_speakers)]
        if spec.diarization.max_speakers:
            args += ["--max-speakers", str(spec.diarization.max_speakers)]
    # On a GPU node, `auto` lets the worker degrade to CPU by itself if CUDA is missing; `gpu` must not.
    device = "cpu" if placement == "cpu" else ("gpu" if spec.device == "gpu" else "auto")
    return [*args, "--device", device]


def _resources(job: TranscriptionJob, placement: Device, config: WorkerConfig) -> dict[str, Any]:
    requests = dict(config.gpu_requests if placement == "gpu" else config.cpu_requests)
    limits = dict(config.gpu_limits if placement == "gpu" else config.cpu_limits)
    overrides = job.spec.resources
    if overrides is not None:
        requests |= overrides.requests.model_dump(exclude_none=True) if overrides.requests else {}
        limits |= overrides.limits.model_dump(exclude_none=True) if overrides.limits else {}
    if placement == "gpu":
        limits[GPU_RESOURCE] = "1"
    return {"requests": requests, "limits": limits}


def _volumes(config: WorkerConfig) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    volumes: list[dict[str, Any]] = [{"name": "scratch", "emptyDir": {"sizeLimit": config.scratch_size}}]
    mounts: list[dict[str, Any]] = [{"name": "scratch", "mountPath": config.scratch_mount}]
    if config.data_claim:
        volumes.append({"name": "data", "persistentVolumeClaim": {"claimName": config.data_claim, "readOnly": True}})
        mounts.append({"name": "data", "mountPath": DATA_MOUNT, "readOnly": True})
    if config.model_claim:
        volumes.append({"name": "models", "persistentVolumeClaim": {"claimName": config.model_claim, "readOnly": True}})
        mounts.append({"name": "models", "mountPath": MODELS_MOUNT, "readOnly": True})
    return volumes, mounts


def setting(field: str, value: str | None = None, **source: Any) -> dict[str, Any]:
    """One environment variable of the worker's settings (`asr.settings.Settings`), named by its field."""
    variable: dict[str, Any] = {"name": SETTINGS_ENV_PREFIX + field.upper()}
    return variable | ({"value": value} if value is not None else source)


def _env(job: TranscriptionJob, config: WorkerConfig) -> list[dict[str, Any]]:
    token = {"secretKeyRef": {"name": config.registry_token_secret, "key": config.registry_token_key}}
    networks = config.url_source_allowed_networks
    return [
        setting("job", f"{job.metadata.namespace}/{job.metadata.name}"),  # on every log line, as the controller's
        setting("registry_url", config.registry_url),
        setting("registry_token", valueFrom=token),
        setting("outbox_dir", f"{config.scratch_mount}/outbox"),
        setting("model_cache_dir", f"{config.scratch_mount}/models"),
        setting("models", json.dumps(config.models)),
        setting("default_model", config.default_model),
        setting("model_aliases", json.dumps(config.model_aliases)),
        setting("batch_size", str(config.batch_size)),
        setting("worker_allowed_roots", json.dumps([DATA_MOUNT])),
        setting("termination_log", TERMINATION_LOG),
        *([setting("worker_allowed_networks", json.dumps(list(networks)))] if networks else []),
        {"name": "HOME", "value": config.scratch_mount},
        {"name": "TMPDIR", "value": config.scratch_mount},
    ]


def labels(job: TranscriptionJob, placement: Device, attempt: int) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "dhg-worker",
        "app.kubernetes.io/part-of": "dhg-ai-factory",
        "app.kubernetes.io/managed-by": "dhg-controller",
        LABEL_JOB: str(job.metadata.name),
        LABEL_PLACEMENT: placement,
        LABEL_ATTEMPT: str(attempt),
    }


def owner_reference(job: TranscriptionJob) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "name": job.metadata.name,
        "uid": job.metadata.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def build_job(job: TranscriptionJob, placement: Device, attempt: int, config: WorkerConfig) -> dict[str, Any]:
    """The batch/v1 Job of one attempt on one placement."""
    volumes, mounts = _volumes(config)
    pod_labels = labels(job, placement, attempt)
    container = {
        "name": "worker",
        "image": config.gpu_image if placement == "gpu" else config.image,
        "imagePullPolicy": config.image_pull_policy,
        "command": list(config.command),
        "args": worker_args(job, placement),
        "env": _env(job, config),
        "resources": _resources(job, placement, config),
        "volumeMounts": mounts,
        "terminationMessagePath": TERMINATION_LOG,
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
    }
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": config.run_as_user,
            "runAsGroup": config.run_as_user,
            "fsGroup": config.run_as_user,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": volumes,
    }
    if placement == "gpu":
        pod_spec["nodeSelector"] = dict(config.gpu_node_selector)
        pod_spec["tolerations"] = [{"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}]
    else:
        if config.cpu_node_selector:
            pod_spec["nodeSelector"] = dict(config.cpu_node_selector)
        if config.cpu_tolerations:
            pod_spec["tolerations"] = list(config.cpu_tolerations)
    if config.service_account:
        pod_spec["serviceAccountName"] = config.service_account
    if job.spec.priority_class_name:
        pod_spec["priorityClassName"] = job.spec.priority_class_name
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name(str(job.metadata.name), placement, attempt),
            "namespace": job.metadata.namespace,
            "labels": pod_labels,
            "ownerReferences": [owner_reference(job)],
        },
        "spec": {
            "backoffLimit": 0,
            "completions": 1,
            "parallelism": 1,
            "activeDeadlineSeconds": job.spec.active_deadline_seconds,
            "ttlSecondsAfterFinished": config.ttl_seconds_after_finished,
            "template": {"metadata": {"labels": pod_labels}, "spec": pod_spec},
        },
    }
