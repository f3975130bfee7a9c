"""What `dhg apply --wait` costs over running the worker directly: one TranscriptionJob on the bundled sample.

Starts `dhg up` (embeddings off) with a data root holding the sample, then alternates, ROUNDS times, with the
machine idle for SETTLE_SECONDS before each run:
  - baseline: `python -m asr.worker --path SAMPLE ...` run directly (the arguments the runner gives it, delivering
    to the same Registry), timed from spawn to exit;
  - subject: `dhg apply -f job.yaml --wait` of a job on the same file (a new name each round), timed from spawn to
    exit: the command line, the runner's pass, the same worker, the status coming back.
Prints the medians and their ratio (target <= 1.10). It does so twice: with `dhg up`'s defaults (the runner keeps
a worker's interpreter started, imports done, ahead of the next job: `dhg.jobs.warm`), and with that off
(DHG_WARM_WORKER=false: every worker starts cold, as in a pod). The target is on the defaults; results in
bench/results/jobs.json.
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
from dhg.testing import dhg_command, dhg_environment, serve

TARGET_RATIO = 1.10
RESULTS = Path(__file__).resolve().parents[1] / "results"


def timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, check=False)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")
    return elapsed


SETTLE_SECONDS = 2.0  # idle between runs: what one run leaves working (the next warm interpreter) ends first


def measure(work: Path, rounds: int, *, warm: bool) -> tuple[list[float], list[float]]:
    """ROUNDS of (the worker directly, `dhg apply --wait`) on one `dhg up`, with or without its warm worker."""
    root = work / "audio"
    root.mkdir(exist_ok=True)
    (root / SAMPLE_PATH.name).write_bytes(SAMPLE_PATH.read_bytes())
    data = work / f"data-{'warm' if warm else 'cold'}"
    stack = serve(
        data, work / "dhg-up.out", DHG_DATA_ROOT=str(root), DHG_PARALLEL="1", DHG_WARM_WORKER=str(warm).lower()
    )
    direct, applied = [], []
    try:
        state, token = read_state(DataDir(data)), read_admin_token(DataDir(data))
        assert state is not None and token
        worker_env = dhg_environment(
            DHG_ASR_REGISTRY_URL=state.registry_url,
            DHG_ASR_REGISTRY_TOKEN=token,
            DHG_ASR_TERMINATION_LOG=str(work / "termination-log"),
            DHG_ASR_OUTBOX_DIR=str(work / "outbox"),
            DHG_ASR_WORKER_ALLOWED_ROOTS=json.dumps([str(root)]),
        )
        for index in range(rounds):
            time.sleep(SETTLE_SECONDS)
            worker = [sys.executable, "-m", "asr.worker", "--job-id", str(uuid.uuid4()), "--model", "tiny.en"]
            worker += ["--language", "auto", "--task", "transcribe", "--path", str(root / SAMPLE_PATH.name)]
            worker += ["--no-word-timestamps", "--vad", "--device", "cpu"]
            direct.append(timed(worker, worker_env))
            time.sleep(SETTLE_SECONDS)
            manifest = work / f"job-{index}.yaml"
            body = {"apiVersion": "factory.dhg.ai/v1alpha1", "kind": "TranscriptionJob"}
            spec = {"source": {"path": f"/data/{SAMPLE_PATH.name}"}, "device": "cpu"}
            manifest.write_text(yaml.safe_dump({**body, "metadata": {"name": f"bench-{index}"}, "spec": spec}))
            command = dhg_command("apply", "-f", manifest, "--wait", "--data-dir", data)
            applied.append(timed(command, dhg_environment()))
            label = "warm" if warm else "cold"
            print(f"{label} round {index + 1}: worker {direct[-1]:.2f} s, dhg apply --wait {applied[-1]:.2f} s")
    finally:
        stack.stop()
    return direct, applied


def spread(values: list[float]) -> dict[str, float]:
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def main(rounds: int) -> int:
    figures: dict[str, object] = {"rounds": rounds, "target": TARGET_RATIO}
    with tempfile.TemporaryDirectory(prefix="bench-jobs-") as folder:
        for warm in (True, False):
            direct, applied = measure(Path(folder), rounds, warm=warm)
            ratio = statistics.median(applied) / statistics.median(direct)
            figures["warm" if warm else "cold"] = {
                "worker_s": spread(direct),
                "apply_wait_s": spread(applied),
                "ratio_of_medians": ratio,
            }
            print(
                f"{'warm worker (the default)' if warm else 'cold worker (DHG_WARM_WORKER=false)'}: worker directly "
                f"median {statistics.median(direct):.2f} s; dhg apply --wait median {statistics.median(applied):.2f} "
                f"s; ratio {ratio:.2f}",
                flush=True,
            )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "jobs.json").write_text(json.dumps(figures, indent=2) + "\n")
    ratio = figures["warm"]["ratio_of_medians"]  # type: ignore[index]
    print(f"ratio with dhg up's defaults: {ratio:.2f} (target <= {TARGET_RATIO})")
    return 0 if ratio <= TARGET_RATIO else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.jobs", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    sys.exit(main(parser.parse_args().rounds))
