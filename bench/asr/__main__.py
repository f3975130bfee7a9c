"""Measure the ASR service against the raw libraries on real speech; print ratios from this one run."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from bench.asr.run import TARGETS, Options, main


def cli(argv: list[str] | None = None) -> int:
    defaults = Options()
    parser = argparse.ArgumentParser(prog="python -m bench.asr", description=__doc__)
    parser.add_argument("--repeat", type=int, default=defaults.repeat, help="runs per timing (the fastest counts)")
    parser.add_argument("--long-minutes", type=float, default=defaults.long_minutes, help="L: batched on L and 2L")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--beam-size", type=int, default=defaults.beam_size)
    parser.add_argument("--no-wer", action="store_true", help="skip the word error rates")
    parser.add_argument("--quick", action="store_true", help="one run per timing, 2 min long audio, no WER")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (audio, service logs)")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    options = Options(
        repeat=1 if args.quick else args.repeat,
        long_minutes=min(args.long_minutes, 2.0) if args.quick else args.long_minutes,
        batch_size=args.batch_size,
        beam_size=args.beam_size,
        wer=not (args.no_wer or args.quick),
        keep=args.keep,
    )
    run = main(options)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps({"options": asdict(options), "figures": run.figures, "report": run.lines}, indent=2)
        )
    failed = [
        figure
        for figure, bound, higher, _ in TARGETS
        if figure in run.figures and not (run.figures[figure] >= bound if higher else run.figures[figure] <= bound)
    ]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(cli())
