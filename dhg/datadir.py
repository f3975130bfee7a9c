"""What local mode keeps in its data dir: the layout, the admin token, and the state of a running `dhg up`."""

from __future__ import annotations

import json
import os
import stat
from dataclasses import asdict, dataclass
from pathlib import Path

from registry.auth import new_token

TOKEN_FILE_MODE = 0o600


@dataclass(frozen=True)
class DataDir:
    """Paths under the data dir; nothing here touches the disk except `create`."""

    root: Path

    @property
    def postgres(self) -> Path:
        return self.root / "postgres"

    @property
    def postgres_log(self) -> Path:
        return self.postgres / "postgres.log"

    @property
    def media(self) -> Path:
        return self.root / "media"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def registry_log(self) -> Path:
        return self.logs / "registry.log"

    @property
    def asr_log(self) -> Path:
        return self.logs / "asr.log"

    @property
    def runner_log(self) -> Path:
        """What `dhg up` itself logs: its TranscriptionJob runner, and each part that died and was restarted."""
        return self.logs / "dhg-up.log"

    @property
    def prometheus_log(self) -> Path:
        return self.logs / "prometheus.log"

    @property
    def prometheus(self) -> Path:
        """The local Prometheus' time series (`dhg up --monitoring`)."""
        return self.root / "prometheus"

    @property
    def prometheus_config(self) -> Path:
        return self.run / "prometheus.yml"

    @property
    def rules(self) -> Path:
        """The chart's rule files, as the local Prometheus reads them."""
        return self.run / "rules"

    @property
    def asr_outbox(self) -> Path:
        return self.root / "asr-outbox"

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def webhook_secret_key_file(self) -> Path:
        return self.root / "webhook-secret-key"

    @property
    def admin_token_file(self) -> Path:
        return self.root / "admin-token"

    @property
    def asr_api_key_file(self) -> Path:
        return self.root / "asr-api-key"

    @property
    def viewer_token_file(self) -> Path:
        """The read-only token of the viewer link `dhg up` prints (a Registry token, made through its API)."""
        return self.root / "viewer-token"

    @property
    def jobs(self) -> Path:
        """Local TranscriptionJobs' workers: their output, termination logs and scratch space."""
        return self.root / "jobs"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def lock_file(self) -> Path:
        return self.run / "up.lock"

    @property
    def state_file(self) -> Path:
        return self.run / "stack.json"

    def create(self) -> None:
        for path in (self.root, self.media, self.logs, self.asr_outbox, self.run):
            path.mkdir(parents=True, exist_ok=True)


def _read_secret(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except FileNotFoundError:
        return None


def _load_or_create_secret(path: Path) -> str:
    """A secret generated on first use, then the same on every run (file mode 0600)."""
    existing = _read_secret(path)
    if existing:
        if stat.S_IMODE(path.stat().st_mode) != TOKEN_FILE_MODE:
            path.chmod(TOKEN_FILE_MODE)
        return existing
    token = new_token()
    _write_secret(path, token)
    return token


def _write_secret(path: Path, secret: str) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, TOKEN_FILE_MODE)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(secret + "\n")
    path.chmod(TOKEN_FILE_MODE)  # O_CREAT's mode is masked by the umask and ignored for an existing file


def read_admin_token(data_dir: DataDir) -> str | None:
    """The local admin token, or None before the first `dhg up`."""
    return _read_secret(data_dir.admin_token_file)


def load_or_create_admin_token(data_dir: DataDir) -> str:
    """The local admin token of the Registry: generated on first use, then the same on every run."""
    return _load_or_create_secret(data_dir.admin_token_file)


def load_or_create_webhook_secret_key(data_dir: DataDir) -> str:
    """The key the local Registry seals webhook signing secrets under: generated on first use, then the same."""
    return _load_or_create_secret(data_dir.webhook_secret_key_file)


def read_viewer_token(data_dir: DataDir) -> str | None:
    return _read_secret(data_dir.viewer_token_file)


def write_viewer_token(data_dir: DataDir, token: str) -> None:
    _write_secret(data_dir.viewer_token_file, token)


def read_asr_api_key(data_dir: DataDir) -> str | None:
    """The local ASR service's API key, or None before the first `dhg up`."""
    return _read_secret(data_dir.asr_api_key_file)


def load_or_create_asr_api_key(data_dir: DataDir) -> str:
    """The API key the local ASR service asks callers for: generated on first use, then the same."""
    return _load_or_create_secret(data_dir.asr_api_key_file)


@dataclass(frozen=True)
class StackState:
    """What a running `dhg up` started; written as each service starts, removed when it stops."""

    pid: int
    registry_pid: int
    registry_url: str
    postgres_port: int
    started_at: str
    asr_pid: int | None = None
    asr_url: str | None = None
    prometheus_pid: int | None = None
    prometheus_url: str | None = None


def write_state(data_dir: DataDir, state: StackState) -> None:
    data_dir.state_file.write_text(json.dumps(asdict(state), indent=2) + "\n")


def read_state(data_dir: DataDir) -> StackState | None:
    """The state a `dhg up` left, whether or not it still runs; None when there is none."""
    try:
        return StackState(**json.loads(data_dir.state_file.read_text()))
    except (FileNotFoundError, json.JSONDecodeError, TypeError):
        return None


def remove_state(data_dir: DataDir) -> None:
    data_dir.state_file.unlink(missing_ok=True)
