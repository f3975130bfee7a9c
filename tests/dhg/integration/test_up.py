"""`dhg up --exit-after-sample`: the README's first command, run for real (Postgres, migrations, Registry)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from dhg.datadir import DataDir, read_admin_token, read_state
from dhg.postgres import free_port
from dhg.sample import PLACEHOLDER_SEGMENTS
from tests.dhg.integration.conftest import ServingStack
from tests.dhg.runner import assert_one_line_error, run_dhg

FIRST_SEGMENT = PLACEHOLDER_SEGMENTS[0][2]


def up_once(data_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return run_dhg("up", "--exit-after-sample", "--data-dir", data_dir, "--registry-port", str(free_port()), **env)


def assert_everything_stopped(data_dir: DataDir, registry_pid: int | None = None) -> None:
    assert not (data_dir.postgres / "pgdata" / "postmaster.pid").exists(), "Postgres still runs"
    assert not data_dir.state_file.exists()
    if registry_pid is not None:
        with pytest.raises(ProcessLookupError):
            os.kill(registry_pid, 0)


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[DataDir, subprocess.CompletedProcess[str]]:
    """One run on a fresh data dir, with the embedding model loading as it does for a user."""
    data_dir = tmp_path_factory.mktemp("dhg-up") / "data"
    return DataDir(data_dir), up_once(data_dir, DHG_REGISTRY_EMBEDDINGS="auto")


def test_up_runs_the_sample_end_to_end_and_exits(first_run: tuple[DataDir, subprocess.CompletedProcess[str]]) -> None:
    data_dir, result = first_run
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "sample audio dhg-sample.wav" in out and ", stored," in out
    assert "PLACEHOLDER" in out and FIRST_SEGMENT in out
    hit_lines = [line for line in out.splitlines() if "00:00.0-00:00.7" in line and line.strip()[0].isdigit()]
    assert hit_lines and FIRST_SEGMENT in hit_lines[0], out
    assert "/docs" in out and "/metrics" in out and str(data_dir.root) in out
    token = read_admin_token(data_dir)
    assert token and token in out
    assert oct(data_dir.admin_token_file.stat().st_mode & 0o777) == "0o600"
    assert "starting the Registry" in data_dir.registry_log.read_text()
    assert "Traceback" not in result.stderr
    assert_everything_stopped(data_dir)


def test_second_run_on_the_same_data_dir_keeps_token_and_data(
    first_run: tuple[DataDir, subprocess.CompletedProcess[str]],
) -> None:
    data_dir, _ = first_run
    token = read_admin_token(data_dir)
    result = up_once(data_dir.root)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "already stored (same sha256)" in result.stdout
    assert FIRST_SEGMENT in result.stdout
    assert read_admin_token(data_dir) == token
    assert_everything_stopped(data_dir)


def test_up_recovers_from_a_killed_run(
    first_run: tuple[DataDir, subprocess.CompletedProcess[str]], serving_stack_factory: Callable[..., ServingStack]
) -> None:
    data_dir, _ = first_run
    crashed = serving_stack_factory(data_dir.root)
    state = read_state(data_dir)
    assert state is not None
    crashed.stop(signal.SIGKILL)  # leaves its Registry and its Postgres running
    os.kill(state.registry_pid, 0)
    assert (data_dir.postgres / "pgdata" / "postmaster.pid").exists()

    result = up_once(data_dir.root)

    assert result.returncode == 0, result.stdout + result.stderr
    assert f"stopped a Registry (pid {state.registry_pid})" in result.stdout
    assert "stopped a Postgres an earlier `dhg up` left running" in result.stdout
    assert FIRST_SEGMENT in result.stdout
    assert_everything_stopped(data_dir, state.registry_pid)


def test_up_refuses_a_taken_port_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_dhg("up", "--exit-after-sample", "--data-dir", tmp_path / "data", "--registry-port", str(port))
    assert_one_line_error(result, f"port {port}", "already in use", "--registry-port")
    assert not (tmp_path / "data" / "postgres").exists(), "nothing should start when the port is taken"
