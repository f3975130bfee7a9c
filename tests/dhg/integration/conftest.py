"""Fixtures that start the real local stack with `dhg up` and always stop it."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dhg.datadir import DataDir
from dhg.testing import ServingStack, serve
from tests.dhg.runner import free_ports, run_dhg


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
