"""Run the real `dhg` command line as a subprocess, in a clean environment, and check how it fails."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

COMMAND_TIMEOUT_SECONDS = 120


def dhg_environment(**overrides: str) -> dict[str, str]:
    """Our environment without DHG_* settings that would point the command elsewhere, plus `overrides`."""
    kept = {key: value for key, value in os.environ.items() if not key.startswith("DHG_")}
    return {**kept, "DHG_REGISTRY_EMBEDDINGS": "off", "COLUMNS": "200", **overrides}


def dhg_command(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "dhg", *map(str, args)]


def run_dhg(*args: str | Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        dhg_command(*args),
        env=dhg_environment(**env),
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_SECONDS,
        check=False,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> str:
    """The command failed with exit status 1 and one `error: ...` line on stderr naming `fragments`."""
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]
