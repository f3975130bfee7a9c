"""Measure the bundled multilingual model (per-language WER, language identification, translation) beside the
library on the same weights, and its cost against tiny.en on the same English audio; all from this one run."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

from bench.languages.run import main

RESULTS = Path(__file__).parents[1] / "results"


def heading() -> str:
    """When and where the figures were measured."""
    from importlib.metadata import version

    machine = f"{os.cpu_count()} cores, Python {platform.python_version()}, faster-whisper {version('faster-whisper')}"
    return f"# bench/languages, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} ({machine}, CPU int8, beam 5)"


def cli(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.languages", description=__doc__)
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (clips, service logs)")
    parser.add_argument("--json", type=Path, default=RESULTS / "languages.json", help="where the figures go")
    args = parser.parse_args(argv)
    run = main(keep=args.keep)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(run.figures, indent=2, ensure_ascii=False) + "\n")
    (args.json.with_suffix(".md")).write_text(f"{heading()}\n\n```\n" + "\n".join(run.lines) + "\n```\n")
    return 1 if run.figures["missed"] else 0


if __name__ == "__main__":
    sys.exit(cli())
