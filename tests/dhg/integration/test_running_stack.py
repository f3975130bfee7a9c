"""The commands that talk to a running `dhg up`: status, search, token create/list/revoke; then SIGTERM."""

from __future__ import annotations

import os
import signal
import uuid

import pytest

from dhg.datadir import read_state
from dhg.postgres import free_port
from dhg.sample import PLACEHOLDER_SEGMENTS
from tests.dhg.integration.conftest import ServingStack
from tests.dhg.runner import assert_one_line_error, run_dhg


def test_status_reports_a_ready_stack(serving_stack: ServingStack) -> None:
    result = run_dhg("status", "--data-dir", serving_stack.data_dir.root)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{serving_stack.url}: ready" in result.stdout
    assert str(serving_stack.data_dir.root) in result.stdout


def test_search_finds_the_sample_transcript(serving_stack: ServingStack) -> None:
    result = run_dhg("search", "placeholder transcript", "--data-dir", serving_stack.data_dir.root)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "00:00.0-00:00.7" in result.stdout and PLACEHOLDER_SEGMENTS[0][2] in result.stdout


def test_token_create_list_revoke(serving_stack: ServingStack) -> None:
    where = ("--data-dir", str(serving_stack.data_dir.root))
    created = run_dhg("token", "create", "ci-reader", "--scope", "read", *where)
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip()
    assert secret.startswith("dhg_")
    token_id = created.stderr.split("created token ")[1].split()[0]
    uuid.UUID(token_id)

    listed = run_dhg("token", "list", *where)
    assert listed.returncode == 0, listed.stderr
    line = next(line for line in listed.stdout.splitlines() if line.startswith(token_id))
    assert "ci-reader" in line and "read" in line and "active" in line
    assert secret not in listed.stdout

    assert run_dhg("search", "placeholder", *where, "--token", secret).returncode == 0
    assert_one_line_error(run_dhg("token", "list", *where, "--token", secret), "403", "admin")

    revoked = run_dhg("token", "revoke", token_id, *where)
    assert revoked.returncode == 0, revoked.stderr
    listed = run_dhg("token", "list", *where)
    assert "revoked" in next(line for line in listed.stdout.splitlines() if line.startswith(token_id))
    assert_one_line_error(run_dhg("search", "placeholder", *where, "--token", secret), "401")


def test_a_second_up_on_the_same_data_dir_is_refused(serving_stack: ServingStack) -> None:
    result = run_dhg(
        "up", "--exit-after-sample", "--data-dir", serving_stack.data_dir.root, "--registry-port", str(free_port())
    )
    assert_one_line_error(result, "another `dhg up`", f"pid {serving_stack.process.pid}")


def test_an_unreachable_registry_is_a_one_line_error(serving_stack: ServingStack) -> None:
    result = run_dhg("search", "x", "--registry-url", f"http://127.0.0.1:{free_port()}", "--token", "t")
    assert_one_line_error(result, "not reachable")


def test_sigterm_stops_the_registry_and_postgres(serving_stack: ServingStack) -> None:
    state = read_state(serving_stack.data_dir)
    assert state is not None
    assert serving_stack.stop(signal.SIGTERM) == 0, serving_stack.output()
    assert "stopping Postgres" in serving_stack.output()
    assert not (serving_stack.data_dir.postgres / "pgdata" / "postmaster.pid").exists()
    with pytest.raises(ProcessLookupError):
        os.kill(state.registry_pid, 0)
    assert run_dhg("status", "--data-dir", serving_stack.data_dir.root).returncode == 1
