"""Optional sampling profile of the Registry process with py-spy (`--profile DIR`).

py-spy records every thread; SQLAlchemy's async layer runs queries inside greenlets, whose stacks py-spy
sees cut off from the request that started them, so the summary ranks self time by package and by function
(which does not depend on where a stack was cut) rather than by inclusive time.
"""

from __future__ import annotations

import collections
import re
import shutil
import subprocess
from pathlib import Path

SAMPLES_PER_SECOND = 100
_LOCATION = re.compile(r"\((?P<file>[^()]*?):\d+\)$")


class Profiler:
    """`py-spy record` attached to one process for a fixed time, writing collapsed stacks."""

    def __init__(self, py_spy: str, out_dir: Path) -> None:
        self.py_spy = py_spy
        self.out_dir = out_dir
        out_dir.mkdir(parents=True, exist_ok=True)

    @classmethod
    def find(cls, out_dir: Path | None, py_spy: str | None) -> Profiler | None:
        if out_dir is None:
            return None
        found = py_spy or shutil.which("py-spy")
        if found is None:
            raise FileNotFoundError("--profile needs py-spy (pip install py-spy) on PATH or given with --py-spy")
        return cls(found, out_dir)

    def start(self, pid: int, name: str, seconds: float) -> subprocess.Popen[bytes]:
        out = self.out_dir / f"{name}.txt"
        command = [
            self.py_spy,
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(max(1, round(seconds))),
            "--rate",
            str(SAMPLES_PER_SECOND),
            "--format",
            "raw",
            "--nonblocking",
            "--output",
            str(out),
        ]
        return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def summarize(self, name: str, top: int = 15) -> dict[str, list[tuple[str, float]]]:
        """Self-time shares (%) by package and by function from one recording."""
        return summarize(self.out_dir / f"{name}.txt", top)


def summarize(path: Path, top: int = 15) -> dict[str, list[tuple[str, float]]]:
    by_package: collections.Counter[str] = collections.Counter()
    by_function: collections.Counter[str] = collections.Counter()
    total = 0
    if not path.exists():
        return {"packages": [], "functions": []}
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        total += samples
        leaf = stack.rsplit(";", 1)[-1]
        match = _LOCATION.search(leaf)
        module = match.group("file") if match else "?"
        by_package[module.split("/", 1)[0].removesuffix(".py")] += samples
        by_function[re.sub(r":\d+\)$", ")", leaf)] += samples
    share = 100.0 / total if total else 0.0
    return {
        "packages": [(name, round(n * share, 1)) for name, n in by_package.most_common(top)],
        "functions": [(name, round(n * share, 1)) for name, n in by_function.most_common(top)],
    }
