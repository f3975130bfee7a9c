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
    parser.add_argument(
        "--curve",
        metavar="N,N,...",
        help="one burst of each size (e.g. 500,1000,2000,5000): the table and bench/results/controller-scale.png",
    )
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    if args.curve:
        sizes = [int(size) for size in args.curve.split(",")]
        return curve(sizes, Options(appliers=args.appliers, registry=args.registry), args.json)
    options = Options(jobs=100 if args.quick else args.jobs, appliers=args.appliers, registry=args.registry)
    run = main(options)
    print("\n".join(run.lines))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        results = {name: asdict(result) for name, result in run.results.items()}
        args.json.write_text(json.dumps({"options": asdict(options), "figures": run.figures, "results": results}))
    missed = [key for key, target in TARGETS.items() if run.figures[key] > target]
    return 1 if missed else 0


def curve(sizes: list[int], template: Options, json_path: Path | None) -> int:
    """A burst of each size against its baseline (each from a fresh test API): the curve as a table and a PNG."""
    from bench.plots import line_plot

    rows = []
    for size in sizes:
        run = main(Options(jobs=size, appliers=template.appliers, registry=template.registry))
        print("\n".join(run.lines), flush=True)
        base, ours = run.results["baseline"], run.results["operator"]
        rows.append({"jobs": size, "baseline": asdict(base), "operator": asdict(ours), "figures": run.figures})
    lines = [
        "| jobs | apply → Job p99 s (baseline) | operator ÷ baseline | peak RSS MiB (baseline) | RSS per 1k jobs MiB |"
        " all Succeeded s |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        base, ours = row["baseline"], row["operator"]
        per_thousand = (ours["peak_rss_mib"] - ours["idle_rss_mib"]) / row["jobs"] * 1000
        lines.append(
            f"| {row['jobs']:,} | {ours['p99']:.2f} ({base['p99']:.2f}) | {ours['p99'] / base['p99']:.2f} | "
            f"{ours['peak_rss_mib']:.0f} ({base['peak_rss_mib']:.0f}) | {per_thousand:.0f} | "
            f"{ours['all_succeeded_seconds']:.0f} |"
        )
    print("\n".join(lines))
    results = Path("bench/results")
    line_plot(
        results / "controller-scale.png",
        "The operator under a burst of TranscriptionJobs (test Kubernetes API, 2 cores)",
        "TranscriptionJobs in the burst",
        [
            (
                "peak RSS (MiB)",
                {
                    "operator": [(r["jobs"], r["operator"]["peak_rss_mib"]) for r in rows],
                    "bare watch → create": [(r["jobs"], r["baseline"]["peak_rss_mib"]) for r in rows],
                },
            ),
            (
                "apply → Job p99 (s)",
                {
                    "operator": [(r["jobs"], r["operator"]["p99"]) for r in rows],
                    "bare watch → create": [(r["jobs"], r["baseline"]["p99"]) for r in rows],
                },
            ),
        ],
    )
    (results / "controller-scale.md").write_text(
        "# The operator at several burst sizes (`python -m bench.controller --curve "
        + ",".join(str(size) for size in sizes)
        + "`)\n\n"
        + "\n".join(lines)
        + "\n\n![curve](controller-scale.png)\n"
    )
    if json_path:
        json_path.write_text(json.dumps(rows, indent=2))
    (results / "controller-scale.json").write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(cli())
