"""A worker's interpreter started ahead of its job: local mode's answer to a pod's cold start.

A pod starts a fresh interpreter, which spends most of a second importing the worker (faster-whisper,
ctranslate2, PyAV, NumPy, the Registry client) before it looks at its job. On one machine the runner can start
that interpreter while no job waits: `python -m dhg.jobs.warm MODULE` imports MODULE, then blocks on its stdin.
When a job's container starts, the runner writes one JSON line, the container's command line, its environment
and the attempt's output file, and this process becomes that worker: its output goes to the file, its
environment is exactly the container's (the worker reads its settings when it runs, never when it is imported),
and `runpy` runs MODULE as `__main__` with the container's arguments, as `python -m MODULE ARGS` would. Its exit
code is the process's, its process group the one the runner stops, so nothing downstream can tell it apart.

An end of input before any job (the runner stopped or died) ends it with nothing done.
"""

from __future__ import annotations

import importlib
import json
import os
import runpy
import sys
import tempfile


def main(module: str) -> int:
    importlib.import_module(module)
    line = sys.stdin.readline()
    if not line:
        return 0
    job = json.loads(line)
    sys.stdout.flush()
    sys.stderr.flush()
    output = os.open(job["output"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    null = os.open(os.devnull, os.O_RDONLY)
    for descriptor, target in ((null, 0), (output, 1), (output, 2)):
        os.dup2(descriptor, target)
    os.close(output)
    os.close(null)
    os.environ.clear()
    os.environ.update(job["env"])
    tempfile.tempdir = None  # found again from the job's environment (TMPDIR), as a new interpreter would
    sys.argv = [module, *job["args"]]  # runpy puts the module's file first, as `python -m` does
    runpy.run_module(module, run_name="__main__", alter_sys=True)
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m dhg.jobs.warm MODULE")
    sys.exit(main(sys.argv[1]))
