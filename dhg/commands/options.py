"""Options several commands share, and how they combine with the settings and the data dir."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from dhg.datadir import DataDir, read_admin_token, read_asr_api_key, read_state
from dhg.errors import NoToken
from dhg.settings import get_settings

if TYPE_CHECKING:
    from dhg_contract.client import RegistryClient

DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Where local mode keeps its data (env DHG_DATA_DIR; default: the user data dir).",
        show_default=False,
    ),
]
RegistryUrlOption = Annotated[
    str | None,
    typer.Option(
        "--registry-url",
        help="The Registry (env DHG_REGISTRY_URL; default: the one `dhg up` runs for the "
        "data dir, else http://127.0.0.1:8000).",
        show_default=False,
    ),
]
AsrUrlOption = Annotated[
    str | None,
    typer.Option(
        "--asr-url",
        help="The ASR service (env DHG_ASR_URL; default: the one `dhg up` runs for the data dir, "
        "else http://127.0.0.1:8001).",
        show_default=False,
    ),
]
PrometheusUrlOption = Annotated[
    str | None,
    typer.Option(
        "--prometheus-url",
        help="A Prometheus whose firing alerts to show (env DHG_PROMETHEUS_URL; default: the one "
        "`dhg up --monitoring` runs for the data dir, else none).",
        show_default=False,
    ),
]
TokenOption = Annotated[
    str | None,
    typer.Option(
        "--token",
        help="Bearer token (env DHG_TOKEN; default: the local admin token in the data dir).",
        show_default=False,
    ),
]


def data_dir_from(option: Path | None) -> DataDir:
    return DataDir((option or get_settings().data_dir).expanduser().resolve())


@dataclass(frozen=True)
class Target:
    """Which Registry a command talks to, and as whom."""

    data_dir: DataDir
    registry_url: str
    token: str | None

    def client(self) -> AbstractContextManager[RegistryClient]:
        """`with target.client() as client:` the Registry's client; its errors come out as one-line errors."""
        from dhg.api import registry_client  # here: commands that never call the Registry start without httpx

        return registry_client(self.registry_url, self.token, timeout=get_settings().http_timeout_seconds)


def resolve_registry_url(option: str | None, data_dir: DataDir) -> str:
    settings = get_settings()
    state = read_state(data_dir)
    return (
        option
        or settings.registry_url
        or (state.registry_url if state else None)
        or f"http://127.0.0.1:{settings.registry_port}"
    )


def resolve_target(
    *, data_dir: Path | None, registry_url: str | None, token: str | None, token_required: bool = True
) -> Target:
    """Options first, then DHG_* settings, then what `dhg up` left in the data dir."""
    settings = get_settings()
    directory = data_dir_from(data_dir)
    from_settings = settings.token.get_secret_value() if settings.token else None
    chosen = token or from_settings or read_admin_token(directory)
    if token_required and not chosen:
        raise NoToken(
            f"no token: pass --token or set DHG_TOKEN (`dhg up` writes the local admin token to "
            f"{directory.admin_token_file})"
        )
    return Target(directory, resolve_registry_url(registry_url, directory), chosen)


def resolve_asr_url(option: str | None, data_dir: DataDir) -> str:
    settings = get_settings()
    state = read_state(data_dir)
    return option or settings.asr_url or (state.asr_url if state else None) or f"http://127.0.0.1:{settings.asr_port}"


def resolve_prometheus_url(option: str | None, data_dir: DataDir) -> str | None:
    state = read_state(data_dir)
    return option or get_settings().prometheus_url or (state.prometheus_url if state else None)


def resolve_asr_api_key(data_dir: DataDir) -> str | None:
    """DHG_ASR_API_KEY, else the key `dhg up` keeps in the data dir, else none (a service that asks none)."""
    settings = get_settings()
    return settings.asr_api_key.get_secret_value() if settings.asr_api_key else read_asr_api_key(data_dir)
