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
from dhg.postgres import free_port
from tests.dhg.runner import dhg_command, dhg_environment

READY_TIMEOUT_SECONDS = 90


@dataclass
class ServingStack:
    """A `dhg up` serving until stopped; its output goes to `output_path`."""

    process: subprocess.Popen[str]
    data_dir: DataDir
    port: int
    output_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

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
            if "serving on" in self.output() and self.data_dir.state_file.exists():
                with httpx.Client(timeout=2) as client:
                    if client.get(f"{self.url}/readyz").status_code == 200:
                        return
            time.sleep(0.2)
        raise AssertionError(f"dhg up did not get to serving in {READY_TIMEOUT_SECONDS} s:\n{self.output()}")

    def stop(self, how: signal.Signals = signal.SIGTERM, timeout: float = 60) -> int:
        if self.process.poll() is None:
            self.process.send_signal(how)
        return self.process.wait(timeout=timeout)


def serve(data_dir: Path, output_path: Path, **env: str) -> ServingStack:
    """Start `dhg up` (serving, not exiting after the sample) and wait until the Registry is ready."""
    port = free_port()
    with output_path.open("w") as output:
        process = subprocess.Popen(
            dhg_command("up", "--data-dir", data_dir, "--registry-port", str(port)),
            env=dhg_environment(**env),
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
        )
    stack = ServingStack(process, DataDir(data_dir), port, output_path)
    try:
        stack.wait_ready()
    except BaseException:
        stack.stop(signal.SIGKILL)
        raise
    return stack


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
def serving_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServingStack]:
    """One `dhg up` shared by a module's tests; stopped with SIGTERM afterwards if a test has not."""
    root = tmp_path_factory.mktemp("dhg-serving")
    stack = serve(root / "data", root / "dhg-up.out")
    yield stack
    stack.stop()
