"""Drive a real `dhg` as a subprocess, as the tests and the benchmarks do: its command line in a clean
environment, and `dhg up` started on free ports and waited on until both services answer (`serve`)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from dhg.datadir import DataDir, read_admin_token

READY_TIMEOUT_SECONDS = 120
SERVING_MARK = "press Ctrl-C to stop"


def dhg_environment(**overrides: str) -> dict[str, str]:
    """Our environment without DHG_* settings that would point the command elsewhere, plus `overrides`."""
    kept = {key: value for key, value in os.environ.items() if not key.startswith("DHG_")}
    return {**kept, "DHG_REGISTRY_EMBEDDINGS": "off", "COLUMNS": "200", **overrides}


def dhg_command(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "dhg", *map(str, args)]


def free_ports(count: int) -> list[int]:
    """`count` distinct TCP ports that are free on 127.0.0.1 right now."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


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
        if not token:
            raise RuntimeError(f"no admin token in {self.data_dir}")
        return token

    def output(self) -> str:
        return self.output_path.read_text()

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"dhg up exited with {self.process.returncode}:\n{self.output()}")
            if SERVING_MARK in self.output() and self.data_dir.state_file.exists():
                with httpx.Client(timeout=2) as client:
                    urls = (f"{self.url}/readyz", f"{self.asr_url}/readyz")
                    if all(client.get(url).status_code == 200 for url in urls):
                        return
            time.sleep(0.2)
        raise RuntimeError(f"dhg up did not get to serving in {READY_TIMEOUT_SECONDS} s:\n{self.output()}")

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
