"""Fixtures that start the real local stack with `dhg up` and always stop it."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from dhg.datadir import DataDir, read_admin_token
from tests.dhg.runner import dhg_command, dhg_environment, free_ports, run_dhg

READY_TIMEOUT_SECONDS = 120
SERVING_MARK = "press Ctrl-C to stop"


@dataclass
class ServingStack:
    """A `dhg up` serving until stopped; its output goes to `output_path`."""

    process: subprocess.Popen[str]
    data_dir: DataDir
    port: int
    asr_port: int
    output_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def asr_url(self) -> str:
        return f"http://127.0.0.1:{self.asr_port}"

    @property
    def admin_token(self) -> str:
        token = read_admin_token(self.data_dir)
        assert token
        return token

    def output(self) -> str:
        return self.output_path.read_text()

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"dhg up exited with {self.process.returncode}:\n{self.output()}")
            if SERVING_MARK in self.output() and self.data_dir.state_file.exists():
                with httpx.Client(timeout=2) as client:
                    urls = (f"{self.url}/readyz", f"{self.asr_url}/readyz")
                    if all(client.get(url).status_code == 200 for url in urls):
                        return
            time.sleep(0.2)
        raise AssertionError(f"dhg up did not get to serving in {READY_TIMEOUT_SECONDS} s:\n{self.output()}")

    def stop(self, how: signal.Signals = signal.SIGTERM, timeout: float = 60) -> int:
        if self.process.poll() is None:
            self.process.send_signal(how)
        return self.process.wait(timeout=timeout)


def serve(data_dir: Path, output_path: Path, **env: str) -> ServingStack:
    """Start `dhg up` (serving, not exiting after the sample) and wait until both services are ready."""
    port, asr_port = free_ports(2)
    with output_path.open("w") as output:
        process = subprocess.Popen(
            dhg_command("up", "--data-dir", data_dir, "--registry-port", str(port), "--asr-port", str(asr_port)),
            env=dhg_environment(**env),
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
        )
    stack = ServingStack(process, DataDir(data_dir), port, asr_port, output_path)
    try:
        stack.wait_ready()
    except BaseException:
        try:
            stack.stop(signal.SIGTERM)  # so that it stops what it started
        except subprocess.TimeoutExpired:
            stack.stop(signal.SIGKILL)
        raise
    return stack


def up_once(data_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`dhg up --exit-after-sample` on free ports."""
    registry_port, asr_port = free_ports(2)
    return run_dhg(
        "up", "--exit-after-sample", "--data-dir", data_dir,
        "--registry-port", str(registry_port), "--asr-port", str(asr_port), **env,
    )  # fmt: skip


@dataclass(frozen=True)
class FirstRun:
    data_dir: DataDir
    result: subprocess.CompletedProcess[str]


@pytest.fixture(scope="session")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> FirstRun:
    """`dhg up --exit-after-sample` on a fresh data dir, with the embedding model loading as it does for a user."""
    data_dir = tmp_path_factory.mktemp("dhg-up") / "data"
    return FirstRun(DataDir(data_dir), up_once(data_dir, DHG_REGISTRY_EMBEDDINGS="auto"))


@pytest.fixture
def serving_stack_factory(tmp_path: Path) -> Iterator[Callable[..., ServingStack]]:
    started: list[ServingStack] = []

    def start(data_dir: Path, **env: str) -> ServingStack:
        stack = serve(data_dir, tmp_path / f"dhg-up-{len(started)}.out", **env)
        started.append(stack)
        return stack

    yield start
    for stack in started:
        stack.stop()


@pytest.fixture(scope="module")
def serving_stack(first_run: FirstRun, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServingStack]:
    """A second `dhg up` on the first run's data dir, serving, shared by a module's tests; stopped with SIGTERM
    afterwards if a test has not stopped it."""
    stack = serve(first_run.data_dir.root, tmp_path_factory.mktemp("dhg-serving") / "dhg-up.out")
    yield stack
    stack.stop()
