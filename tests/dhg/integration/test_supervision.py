"""`dhg up` keeps its stack alive: Postgres, the Registry and the ASR service SIGKILLed in turn are each said in one
line and started again, the stack serves again, and nothing either service acknowledged is lost; then, with both
services stopped dead (SIGSTOP), SIGTERM still stops everything within 10 s."""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx

from asr.protocol import JOB_HEADER, TRANSCRIPTIONS_PATH
from dhg.datadir import read_asr_api_key, read_state
from dhg.postgres import EmbeddedPostgres, process_alive
from dhg.sample import SAMPLE_PATH
from tests.dhg.integration.conftest import ServingStack
from tests.dhg.runner import run_dhg

RECOVERY_TIMEOUT_SECONDS = 180
STOP_LIMIT_SECONDS = 10


def _wait_for(condition: Callable[[], bool], what: str, stack: ServingStack) -> None:
    deadline = time.monotonic() + RECOVERY_TIMEOUT_SECONDS
    while not condition():
        assert stack.process.poll() is None, f"dhg up exited ({stack.process.returncode}):\n{stack.output()}"
        assert time.monotonic() < deadline, f"{what}, not within {RECOVERY_TIMEOUT_SECONDS} s:\n{stack.output()}"
        time.sleep(0.2)


def _ready(stack: ServingStack) -> bool:
    try:
        with httpx.Client(timeout=2) as client:
            return all(client.get(f"{url}/readyz").status_code == 200 for url in (stack.url, stack.asr_url))
    except httpx.HTTPError:
        return False


def _acknowledge(stack: ServingStack, registry: httpx.Client, asr: httpx.Client) -> tuple[uuid.UUID, uuid.UUID]:
    """A transcription the ASR service answers 200 (its result is then owed to the Registry) and a job record the
    Registry answers 201 (it is then stored): the ids of both."""
    transcribed = uuid.uuid4()
    with SAMPLE_PATH.open("rb") as audio:
        response = asr.post(
            TRANSCRIPTIONS_PATH, files={"file": (SAMPLE_PATH.name, audio)}, headers={JOB_HEADER: str(transcribed)}
        )
    assert response.status_code == 200, response.text
    recorded = uuid.uuid4()
    response = registry.post(
        "/v1/jobs", json={"id": str(recorded), "name": "kept", "source": {"url": "https://x.io/a"}}
    )
    assert response.status_code == 201, response.text
    return transcribed, recorded


def _pid_of(stack: ServingStack, part: str) -> int:
    state = read_state(stack.data_dir)
    assert state is not None and state.asr_pid is not None
    if part == "Postgres":
        pid = EmbeddedPostgres(stack.data_dir.postgres).postmaster_pid()
        assert pid is not None
        return pid
    return state.registry_pid if part == "the Registry" else state.asr_pid


def test_each_part_killed_is_restarted_and_nothing_acknowledged_is_lost(
    serving_stack_factory: Callable[..., ServingStack], tmp_path: Path
) -> None:
    stack = serving_stack_factory(tmp_path / "data")
    asr_key = read_asr_api_key(stack.data_dir)
    registry = httpx.Client(base_url=stack.url, headers={"Authorization": f"Bearer {stack.admin_token}"}, timeout=30)
    asr = httpx.Client(base_url=stack.asr_url, headers={"Authorization": f"Bearer {asr_key}"}, timeout=120)
    acknowledged: list[tuple[uuid.UUID, uuid.UUID]] = []
    with registry, asr:
        for part in ("Postgres", "the Registry", "the ASR service"):
            acknowledged.append(_acknowledge(stack, registry, asr))
            pid = _pid_of(stack, part)
            os.kill(pid, signal.SIGKILL)
            _wait_for(lambda part=part: f"{part} is running again" in stack.output(), f"{part} not restarted", stack)
            assert f"{part} is no longer running" in stack.output() or f"{part} was killed by SIGKILL" in stack.output()
            assert _pid_of(stack, part) != pid  # the state file names the new process
            _wait_for(lambda: _ready(stack), f"the stack not ready again after {part} was killed", stack)
        acknowledged.append(_acknowledge(stack, registry, asr))

        def stored(job_id: uuid.UUID) -> bool:
            return registry.get("/v1/transcripts", params={"job_id": str(job_id)}).json()["total"] == 1

        for transcribed, recorded in acknowledged:
            _wait_for(lambda t=transcribed: stored(t), f"the transcript of job {transcribed} never stored", stack)
            assert registry.get(f"/v1/jobs/{recorded}").status_code == 200

    output = stack.output()
    for part in ("Postgres", "the Registry", "the ASR service"):  # each death said once, each back once (a restart
        # that fails, as Postgres' may while its old processes let go of their shared memory, is said and retried)
        died = output.count(f"{part} is no longer running;") + output.count(f"{part} was killed by SIGKILL;")
        assert died == 1 and output.count(f"{part} is running again") == 1, output
    assert "Traceback" not in output, output
    assert run_dhg("status", "--data-dir", stack.data_dir.root).returncode == 0  # it finds the new processes

    # Both services stopped dead: SIGTERM is still the end of everything within the limit.
    state = read_state(stack.data_dir)
    assert state is not None and state.asr_pid is not None
    postmaster = _pid_of(stack, "Postgres")
    for pid in (state.registry_pid, state.asr_pid):
        os.kill(pid, signal.SIGSTOP)
    began = time.monotonic()
    stack.process.send_signal(signal.SIGTERM)
    status = stack.process.wait(timeout=60)
    took = time.monotonic() - began
    assert took < STOP_LIMIT_SECONDS, f"dhg up took {took:.1f} s to stop:\n{stack.output()}"
    assert status == 0, stack.output()
    for pid in (state.registry_pid, state.asr_pid, postmaster):
        assert not process_alive(pid), f"pid {pid} still runs"
    assert not stack.data_dir.state_file.exists()
