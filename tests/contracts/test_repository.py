"""A clone passes its own tests: nothing the tests, benchmarks or build scripts run reads outside the checkout."""

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUTSIDE = re.compile(r"\.\./shared|\.\./\.\.|parents\[\d+\]\s*/\s*[\"']shared[\"']")


def test_no_test_script_or_makefile_reads_outside_the_repository():
    tracked = subprocess.run(
        ["git", "ls-files", "tests", "bench", "Makefile", ".ci"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    this = Path(__file__).resolve().relative_to(ROOT).as_posix()
    offenders = [
        f"{name}:{number}"
        for name in tracked
        if name != this and name.endswith((".py", ".sh", "Makefile", "run"))
        for number, line in enumerate((ROOT / name).read_text(errors="replace").splitlines(), start=1)
        if OUTSIDE.search(line)
    ]
    assert offenders == []
