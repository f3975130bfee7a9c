"""`python -m bench.registry`: load-test the Registry on loopback and print figures against a raw-DB baseline."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.registry.run import Options, main

QUICK = {"duration": 3.0, "warmup": 1.0, "segments": 5000, "distinct_sentences": 300, "queries": 40}


def parse(argv: list[str]) -> Options:
    defaults = Options()
    parser = argparse.ArgumentParser(prog="python -m bench.registry", description=__doc__)
    parser.add_argument("--duration", type=float, default=defaults.duration, help="seconds measured per phase")
    parser.add_argument("--warmup", type=float, default=defaults.warmup, help="seconds before each window")
    parser.add_argument(
        "--concurrency", type=int, default=defaults.concurrency, help="connections in the closed-loop phases"
    )
    parser.add_argument(
        "--write-rate", type=float, default=defaults.write_rate, help="offered writes/s in the open-loop latency phase"
    )
    parser.add_argument(
        "--read-rate", type=float, default=defaults.read_rate, help="offered reads/s in the open-loop latency phase"
    )
    parser.add_argument(
        "--max-in-flight", type=int, default=defaults.max_in_flight, help="connections serving the open-loop arrivals"
    )
    parser.add_argument("--segments", type=int, default=defaults.segments, help="segments in the search corpus")
    parser.add_argument(
        "--distinct-sentences",
        type=int,
        default=defaults.distinct_sentences,
        help="sentences embedded with the model to build the corpus",
    )
    parser.add_argument("--queries", type=int, default=defaults.queries, help="search queries timed")
    parser.add_argument(
        "--server-workers",
        type=int,
        default=defaults.server_workers,
        help="Registry processes (1: `python -m registry serve`; more: uvicorn --workers)",
    )
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for the Registry process (repeatable)",
    )
    parser.add_argument("--only", choices=["api", "search"], help="run only the API or only the search part")
    parser.add_argument("--quick", action="store_true", help="small sizes and short windows: a smoke run")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    parser.add_argument("--profile", type=Path, metavar="DIR", help="py-spy the Registry into DIR (slows it)")
    parser.add_argument(
        "--timeline",
        action="store_true",
        help="sample each process's CPU and the WAL every 100 ms in the open-loop phases and show what ran in the "
        "slowest half-seconds",
    )
    parser.add_argument("--py-spy", help="path of the py-spy executable (default: from PATH)")
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=Path("bench/results/cache"),
        help="where corpus embeddings are cached between runs",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (Postgres data, server logs)")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="first wait up to this long for other processes to leave the CPU idle",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run each phase this many times and report the one other processes disturbed least",
    )
    args = parser.parse_args(argv)
    sizes = {name: getattr(args, name) for name in ("duration", "warmup", "segments", "distinct_sentences", "queries")}
    if args.quick:
        sizes = {name: min(value, QUICK[name]) for name, value in sizes.items()}
    server_env = dict(item.split("=", 1) for item in args.server_env)
    return Options(
        **sizes,
        concurrency=args.concurrency,
        write_rate=args.write_rate,
        read_rate=args.read_rate,
        max_in_flight=args.max_in_flight,
        server_workers=args.server_workers,
        server_env=server_env,
        api=args.only != "search",
        search=args.only != "api",
        json=args.json,
        profile=args.profile,
        py_spy=args.py_spy,
        cache_dir=args.cache_dir,
        keep=args.keep,
        wait_quiet=args.wait_quiet,
        repeat=max(1, args.repeat),
        timeline=args.timeline,
    )


if __name__ == "__main__":
    sys.exit(main(parse(sys.argv[1:])))
