from __future__ import annotations

import json
import stat
from dataclasses import asdict
from pathlib import Path

from dhg.datadir import (
    DataDir,
    StackState,
    load_or_create_admin_token,
    load_or_create_asr_api_key,
    read_asr_api_key,
    read_state,
    remove_state,
    write_state,
)


def test_admin_token_is_created_once_private_and_stable(tmp_path: Path) -> None:
    data_dir = DataDir(tmp_path)
    token = load_or_create_admin_token(data_dir)
    assert token.startswith("dhg_")
    assert stat.S_IMODE(data_dir.admin_token_file.stat().st_mode) == 0o600
    data_dir.admin_token_file.chmod(0o644)
    assert load_or_create_admin_token(data_dir) == token
    assert stat.S_IMODE(data_dir.admin_token_file.stat().st_mode) == 0o600


def test_asr_api_key_is_its_own_private_and_stable_secret(tmp_path: Path) -> None:
    data_dir = DataDir(tmp_path)
    assert read_asr_api_key(data_dir) is None
    key = load_or_create_asr_api_key(data_dir)
    assert key != load_or_create_admin_token(data_dir)
    assert stat.S_IMODE(data_dir.asr_api_key_file.stat().st_mode) == 0o600
    assert load_or_create_asr_api_key(data_dir) == read_asr_api_key(data_dir) == key


def test_stack_state_round_trips_and_unreadable_state_reads_as_none(tmp_path: Path) -> None:
    data_dir = DataDir(tmp_path)
    data_dir.create()
    state = StackState(
        pid=1,
        registry_pid=2,
        registry_url="http://127.0.0.1:8000",
        postgres_port=5432,
        started_at="2025-01-01T00:00:00+00:00",
        asr_pid=3,
        asr_url="http://127.0.0.1:8001",
    )
    write_state(data_dir, state)
    assert read_state(data_dir) == state
    earlier = {key: value for key, value in asdict(state).items() if not key.startswith("asr_")}
    data_dir.state_file.write_text(json.dumps(earlier))  # as a `dhg up` from before the ASR service wrote it
    recorded = read_state(data_dir)
    assert recorded is not None and recorded.asr_pid is None and recorded.registry_pid == 2
    data_dir.state_file.write_text("{not json")
    assert read_state(data_dir) is None
    remove_state(data_dir)
    assert read_state(data_dir) is None
