"""The project as a user installs it without the checkout: its wheel built, `pip install 'dhg-ai-factory[local]'` of it
into a fresh virtualenv (at the lock's versions), then `dhg up --exit-after-sample` from another folder. The viewer's
assets, the API docs' assets, the migrations, the sample and the model come with the wheel or its dependencies."""

from __future__ import annotations

import subprocess
import venv
import zipfile
from pathlib import Path

from images import build
from tests.dhg.runner import assert_sample_transcribed, dhg_environment, free_ports

ROOT = Path(__file__).resolve().parents[3]
INSTALL_TIMEOUT_SECONDS = 900


def test_the_wheel_installed_in_a_fresh_virtualenv_runs_the_sample(tmp_path: Path) -> None:
    wheel = build.project_wheel(cache=tmp_path / "build")
    environment = tmp_path / "venv"
    venv.create(environment, with_pip=True)
    python = environment / "bin" / "python"
    install = [str(python), "-m", "pip", "install", "-q", "--constraint", str(ROOT / "constraints.txt")]
    subprocess.run([*install, f"{wheel}[local]"], check=True, timeout=INSTALL_TIMEOUT_SECONDS)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = subprocess.run(
        [str(python), "-c", "import dhg, registry.migrations; print(dhg.__file__)"],
        cwd=elsewhere, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert where.stdout.startswith(str(environment)), where.stdout  # not the checkout's

    registry_port, asr_port = free_ports(2)
    result = subprocess.run(
        [str(environment / "bin" / "dhg"), "up", "--exit-after-sample", "--data-dir", str(tmp_path / "data"),
         "--registry-port", str(registry_port), "--asr-port", str(asr_port)],
        cwd=elsewhere, env=dhg_environment(DHG_REGISTRY_EMBEDDINGS="auto"), capture_output=True, text=True,
        timeout=INSTALL_TIMEOUT_SECONDS, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert_sample_transcribed(result.stdout)
    assert "(fulltext search)" in result.stdout  # no embeddings extra: search in full text, said so
    assert "Traceback" not in result.stderr, result.stderr


def test_the_wheel_carries_the_files_the_services_read(tmp_path: Path) -> None:
    """What the first test needs from the wheel, named (a missing one fails here with its name, not with a stack)."""
    names = set(zipfile.ZipFile(build.project_wheel(cache=tmp_path)).namelist())
    for needed in (
        "registry/ui/index.html",
        "registry/ui/viewer.js",
        "registry/migrations/env.py",
        "dhg_core/static/swagger-init.js",
        "dhg/samples/sense-and-sensibility.opus",
    ):
        assert needed in names, needed
    assert any(name.startswith("registry/migrations/versions/") for name in names)
