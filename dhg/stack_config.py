"""How each part of the local stack is started: its command line and its environment (the settings local mode
decides over the user's own DHG_* ones), and the services' tokens."""

from __future__ import annotations

import json
import secrets
import sys

from dhg.datadir import DataDir, load_or_create_webhook_secret_key
from dhg.services import HOST
from dhg.settings import inherited_environment

REGISTRY_ARGUMENTS = ("-m", "registry", "serve")
ASR_ARGUMENTS = ("-m", "asr")


def registry_command(port: int) -> list[str]:
    """How the Registry is started: migrations already ran, so it must not run them again."""
    return [sys.executable, *REGISTRY_ARGUMENTS, "--host", HOST, "--port", str(port), "--no-migrate-first"]


def asr_command(port: int) -> list[str]:
    return [sys.executable, *ASR_ARGUMENTS, "--host", HOST, "--port", str(port)]


LOOPBACK_NETWORKS = ["127.0.0.0/8", "::1/128"]


SERVICES = ("asr", "worker", "controller")  # each gets its own `ingest` token (transcripts and job records only)


def service_tokens() -> dict[str, str]:
    """Fresh tokens for the services of one `dhg up` (nothing keeps them: each start makes new ones)."""
    return {name: f"dhg_{name}-{secrets.token_urlsafe(32)}" for name in SERVICES}


def registry_environment(
    *,
    database_url: str,
    data_dir: DataDir,
    admin_token: str,
    services: dict[str, str] | None = None,
    asr_url: str | None = None,
) -> dict[str, str]:
    """Our environment (PATH, any DHG_REGISTRY_* the user set) with the settings local mode decides."""
    return {
        **inherited_environment(),
        **{f"DHG_REGISTRY_SERVICE_TOKENS__{name.upper()}": token for name, token in (services or {}).items()},
        "DHG_REGISTRY_DATABASE_URL": database_url,
        "DHG_REGISTRY_STORAGE_DIR": str(data_dir.media),
        "DHG_REGISTRY_ADMIN_TOKEN": admin_token,
        "DHG_REGISTRY_WEBHOOK_SECRET_KEY": load_or_create_webhook_secret_key(data_dir),
        "PYTHONUNBUFFERED": "1",  # so the log has the last lines when the Registry fails at start
        # On one's own machine, webhook receivers run there too (other internal addresses stay refused).
        "DHG_REGISTRY_WEBHOOK_ALLOWED_NETWORKS": json.dumps(LOOPBACK_NETWORKS),
        # The viewer's Live page talks to the ASR service, on its own port here (on a cluster, the same host).
        **({"DHG_REGISTRY_ASR_URL": asr_url} if asr_url else {}),
    }


def model_environment(default_model: str | None) -> dict[str, str]:
    """Our environment, with `dhg up --model` as the ASR service's and the workers' default model."""
    return {**inherited_environment(), **({"DHG_ASR_DEFAULT_MODEL": default_model} if default_model else {})}


def asr_environment(
    *, registry_url: str, data_dir: DataDir, token: str, api_key: str, default_model: str | None = None
) -> dict[str, str]:
    """Our environment (any DHG_ASR_* the user set, a model cache of theirs) with what local mode decides:
    results go to the local Registry through an outbox in the data dir, and callers need the local key."""
    return {
        "DHG_ASR_MODEL_CACHE_DIR": str(data_dir.models),
        **model_environment(default_model),
        "DHG_ASR_REGISTRY_URL": registry_url,
        "DHG_ASR_REGISTRY_TOKEN": token,  # an `ingest` token: it pushes transcripts, nothing else
        "DHG_ASR_OUTBOX_DIR": str(data_dir.asr_outbox),
        "DHG_ASR_API_KEY": api_key,
        "PYTHONUNBUFFERED": "1",
    }
