"""What `dhg apply --wait` costs over running the worker directly: one TranscriptionJob on the bundled sample.

Starts `dhg up` (embeddings off) with a data root holding the sample, then alternates, ROUNDS times:
  - baseline: `python -m asr.worker --path SAMPLE ...` run directly (the arguments the runner gives it, delivering
    to the same Registry), timed from spawn to exit;
  - subject: `dhg apply -f job.yaml --wait` of a job on the same file (a new name each round), timed from spawn to
    exit: the command line, the runner's pass, the same worker, the status coming back.
Prints the medians and their ratio (target <= 1.10); results in bench/results/jobs.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import yaml

from dhg.datadir import DataDir, read_admin_token, read_state
from dhg.sample import SAMPLE_PATH
from tests.dhg.integration.conftest import serve
from tests.dhg.runner import dhg_command, dhg_environment

TARGET_RATIO = 1.10
RESULTS = Path(__file__).resolve().parents[1] / "results"


def timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, check=False)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")
    return elapsed


def main(rounds: int) -> int:
    with tempfile.TemporaryDirectory(prefix="bench-jobs-") as folder:
        work = Path(folder)
        root = work / "audio"
        root.mkdir()
        (root / SAMPLE_PATH.name).write_bytes(SAMPLE_PATH.read_bytes())
        stack = serve(work / "data", work / "dhg-up.out", DHG_DATA_ROOT=str(root), DHG_PARALLEL="1")
        try:
            state, token = read_state(DataDir(work / "data")), read_admin_token(DataDir(work / "data"))
            assert state is not None and token
            worker_env = dhg_environment(
                DHG_ASR_REGISTRY_URL=state.registry_url,
                DHG_ASR_REGISTRY_TOKEN=token,
                DHG_ASR_TERMINATION_LOG=str(work / "termination-log"),
                DHG_ASR_OUTBOX_DIR=str(work / "outbox"),
                DHG_ASR_WORKER_ALLOWED_ROOTS=json.dumps([str(root)]),
            )
            direct, applied = [], []
            for index in range(rounds):
                worker = [sys.executable, "-m", "asr.worker", "--job-id", str(uuid.uuid4()), "--model", "tiny.en"]
                worker += ["--language", "auto", "--task", "transcribe", "--path", str(root / SAMPLE_PATH.name)]
                worker += ["--no-word-timestamps", "--vad", "--device", "cpu"]
                direct.append(timed(worker, worker_env))
                manifest = work / f"job-{index}.yaml"
                body = {"apiVersion": "factory.dhg.ai/v1alpha1", "kind": "TranscriptionJob"}
                spec = {"source": {"path": f"/data/{SAMPLE_PATH.name}"}, "device": "cpu"}
                manifest.write_text(yaml.safe_dump({**body, "metadata": {"name": f"bench-{index}"}, "spec": spec}))
                command = dhg_command("apply", "-f", manifest, "--wait", "--data-dir", work / "data")
                applied.append(timed(command, dhg_environment()))
                print(f"round {index + 1}: worker {direct[-1]:.2f} s, dhg apply --wait {applied[-1]:.2f} s", flush=True)
        finally:
            stack.stop()
    ratio = statistics.median(applied) / statistics.median(direct)
    figures = {
        "rounds": rounds,
        "worker_s": {"min": min(direct), "median": statistics.median(direct), "max": max(direct)},
        "apply_wait_s": {"min": min(applied), "median": statistics.median(applied), "max": max(applied)},
        "ratio_of_medians": ratio,
        "target": TARGET_RATIO,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "jobs.json").write_text(json.dumps(figures, indent=2) + "\n")
    print(
        f"worker directly: median {figures['worker_s']['median']:.2f} s; dhg apply --wait: median "
        f"{figures['apply_wait_s']['median']:.2f} s; ratio {ratio:.2f} (target <= {TARGET_RATIO})"
    )
    return 0 if ratio <= TARGET_RATIO else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.jobs", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    sys.exit(main(parser.parse_args().rounds))
