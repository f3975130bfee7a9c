from __future__ import annotations

from pathlib import Path

import pytest

from dhg.datadir import DataDir
from dhg.stack_config import (
    SERVICES,
    asr_command,
    asr_environment,
    model_environment,
    registry_environment,
    service_tokens,
)


def test_the_asr_service_reports_to_the_local_registry_whatever_the_environment_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DHG_ASR_REGISTRY_URL", "http://elsewhere:8000")
    monkeypatch.setenv("DHG_ASR_API_KEY", "someone-elses")
    monkeypatch.setenv("DHG_ASR_BEAM_SIZE", "1")
    data_dir = DataDir(tmp_path)
    env = asr_environment(registry_url="http://127.0.0.1:8000", data_dir=data_dir, token="svc", api_key="key")
    assert env["DHG_ASR_REGISTRY_URL"] == "http://127.0.0.1:8000"
    assert env["DHG_ASR_REGISTRY_TOKEN"] == "svc"
    assert env["DHG_ASR_API_KEY"] == "key"
    assert env["DHG_ASR_OUTBOX_DIR"] == str(data_dir.asr_outbox)
    assert env["DHG_ASR_BEAM_SIZE"] == "1"  # the user's own tuning passes through
    assert env["DHG_ASR_MODEL_CACHE_DIR"] == str(data_dir.models)


def test_a_model_cache_the_user_chose_is_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DHG_ASR_MODEL_CACHE_DIR", "/srv/models")
    env = asr_environment(registry_url="u", data_dir=DataDir(tmp_path), token="a", api_key="k")
    assert env["DHG_ASR_MODEL_CACHE_DIR"] == "/srv/models"
    assert asr_command(8001)[1:] == ["-m", "asr", "--host", "127.0.0.1", "--port", "8001"]


def test_the_services_get_their_own_tokens_never_the_admin_one(tmp_path: Path) -> None:
    """Least privilege (issue 17): the Registry knows one `ingest` token per service, each new at every start."""
    tokens = service_tokens()
    assert set(tokens) == set(SERVICES) == {"asr", "worker", "controller"}
    assert len(set(tokens.values())) == 3 and tokens != service_tokens()
    env = registry_environment(
        database_url="postgresql://x", data_dir=DataDir(tmp_path), admin_token="adm", services=tokens
    )
    assert {name: env[f"DHG_REGISTRY_SERVICE_TOKENS__{name.upper()}"] for name in SERVICES} == tokens
    assert "adm" not in tokens.values()


def test_up_model_is_the_default_of_the_service_and_of_the_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DHG_ASR_DEFAULT_MODEL", "from-the-environment")
    chosen = asr_environment(
        registry_url="u", data_dir=DataDir(tmp_path), token="a", api_key="k", default_model="tiny.en"
    )
    assert chosen["DHG_ASR_DEFAULT_MODEL"] == "tiny.en"  # the flag wins over the environment
    assert model_environment("tiny.en")["DHG_ASR_DEFAULT_MODEL"] == "tiny.en"  # what the job runner's workers get
    unchosen = asr_environment(registry_url="u", data_dir=DataDir(tmp_path), token="a", api_key="k")
    assert unchosen["DHG_ASR_DEFAULT_MODEL"] == "from-the-environment"
    assert model_environment(None)["DHG_ASR_DEFAULT_MODEL"] == "from-the-environment"
