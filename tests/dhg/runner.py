"""Run the real `dhg` command line as a subprocess, in a clean environment, and check how it fails."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from asr.evaluation import word_error_rate
from dhg.sample import REFERENCE_TEXT
from dhg.testing import dhg_command, dhg_environment, free_ports

__all__ = [  # with what dhg.testing has for the benchmarks too
    "assert_one_line_error",
    "assert_sample_transcribed",
    "dhg_command",
    "dhg_environment",
    "free_ports",
    "printed_transcript",
    "run_dhg",
    "search_hits",
]

COMMAND_TIMEOUT_SECONDS = 120
MAX_WORD_ERROR_RATE = 0.05  # make up's bound for the sample: base, the default, reads it word for word (tiny.en: 0.045)


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


def printed_transcript(output: str) -> str:
    """The transcript text `dhg up` prints under "2. transcribed by the ASR service"."""
    lines = output.splitlines()
    heading = next(index for index, line in enumerate(lines) if line.startswith("2. transcribed by the ASR service"))
    return lines[heading + 1].strip()


def search_hits(output: str) -> list[str]:
    """The hit lines of `dhg search` (and of `dhg up`'s search): score, transcript id, time span, text."""
    return [line for line in output.splitlines() if re.match(r"^\s+-?\d+\.\d{3}\s+[0-9a-f-]{36}\s", line)]


def assert_sample_transcribed(output: str) -> None:
    """The real transcript of the sample is printed (close to the reference), with time-stamped segments."""
    heard = printed_transcript(output)
    assert word_error_rate(REFERENCE_TEXT, heard) <= MAX_WORD_ERROR_RATE, heard
    assert "[00:00.0-" in output and "Dashwood" in output
