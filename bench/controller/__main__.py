"""Measure the operator under a burst of TranscriptionJobs against a bare watch → create baseline; print ratios."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from bench.controller.run import TARGETS, Options, main


def cli(argv: list[str] | None = None) -> int:
    defaults = Options()
    parser = argparse.ArgumentParser(prog="python -m bench.controller", description=__doc__)
    parser.add_argument("--jobs", type=int, default=defaults.jobs, help="TranscriptionJobs in the burst")
    parser.add_argument("--appliers", type=int, default=defaults.appliers, help="kubectl processes applying them")
    parser.add_argument("--quick", action="store_true", help="100 jobs")
    parser.add_argument(
        "--registry", action="store_true", help="the operator records every job in a Registry: the whole control plane"
    )
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    options = Options(jobs=100 if args.quick else args.jobs, appliers=args.appliers, registry=args.registry)
    run = main(options)
    print("\n".join(run.lines))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        results = {name: asdict(result) for name, result in run.results.items()}
        args.json.write_text(json.dumps({"options": asdict(options), "figures": run.figures, "results": results}))
    missed = [key for key, target in TARGETS.items() if run.figures[key] > target]
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(cli())
