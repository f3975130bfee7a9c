"""`dhg-registry serve --workers 2`: two server processes behind one port, and one `/metrics` that counts the
requests of both (prometheus-client's multiprocess mode)."""

from __future__ import annotations

import concurrent.futures
import os
import re
import secrets
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from dhg.postgres import free_port

ROUTE = 'dhg_registry_http_requests_total{method="GET",route="/v1/transcripts",status="200"}'


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
            except OSError:
                continue
            if ppid == pid:
                found.append(int(entry.name))
    return found


@pytest.fixture
def two_workers(empty_database, tmp_path):
    port, token = free_port("127.0.0.1"), "test-admin-" + secrets.token_hex(8)
    env = {
        **os.environ,
        "DHG_REGISTRY_DATABASE_URL": empty_database,
        "DHG_REGISTRY_ADMIN_TOKEN": token,
        "DHG_REGISTRY_STORAGE_DIR": str(tmp_path / "media"),
        "DHG_REGISTRY_EMBEDDINGS": "off",
        "DHG_REGISTRY_LOG_LEVEL": "WARNING",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    command = [sys.executable, "-m", "registry", "serve", "--port", str(port), "--workers", "2"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert process.poll() is None and time.monotonic() < deadline, process.stdout.read() if process.stdout else ""
        time.sleep(0.2)
    yield process, url, token
    process.terminate()
    process.wait(30)


def test_two_processes_serve_and_metrics_count_both(two_workers):
    process, url, token = two_workers
    workers = [pid for pid in _children(process.pid) if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]
    assert len(workers) == 2, workers

    def fetch(_: int) -> int:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as client:  # a new connection
            return client.get("/v1/transcripts").status_code

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(pool.map(fetch, range(60)))
    assert codes == [200] * 60
    text = httpx.get(f"{url}/metrics/").text
    (count,) = [float(m) for m in re.findall(re.escape(ROUTE) + r" ([0-9.e+]+)", text)]
    assert count == 60
    assert "dhg_registry_http_requests_in_flight" in text
