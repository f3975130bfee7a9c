"""Targets from the issue, the printed table, and the JSON written with --json."""

from __future__ import annotations

import math
import os
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from bench.registry import timeline
from bench.registry.load import PhaseResult


@dataclass(frozen=True)
class Target:
    name: str
    figure: str  # key into the figures dict
    bound: float
    higher_is_better: bool

    def met(self, value: float) -> bool:
        if math.isnan(value):
            return False
        return value >= self.bound if self.higher_is_better else value < self.bound

    def describe(self) -> str:
        return f"{'>=' if self.higher_is_better else '<'} {self.bound:g}"


TARGETS = (
    Target("transcript writes/s (20 segments)", "writes_per_second", 300, True),
    Target("transcript reads/s", "reads_per_second", 1000, True),
    Target("write p99 ms at the target rate", "write_p99_ms_at_target", 100, False),
    Target("read p99 ms at the target rate", "read_p99_ms_at_target", 100, False),
    Target("semantic search p95 ms", "search_p95_ms", 50, False),
    Target("searches/s, 8 connections", "searches_per_second_concurrent", 80, True),
    Target("recall@10 of those searches", "search_concurrent_recall_at_10", 0.95, True),
)


CONTENDED_CORES = 0.2  # other processes using more than this during a window make its figures low


def machine() -> dict[str, Any]:
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return {
        "cpu_model": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def cpu_ms_per_request(phase: PhaseResult) -> dict[str, float]:
    """CPU milliseconds each process spent per completed request over the measured window."""
    if not phase.completed:
        return {}
    return {name: round(seconds * 1000 / phase.completed, 2) for name, seconds in phase.cpu_seconds.items()}


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator and not math.isnan(denominator) else math.nan


def _latencies(phase: PhaseResult | None) -> str:
    if phase is None or not phase.completed:
        return "-"
    return "/".join(f"{phase.percentile(q):.1f}" for q in (50, 95, 99))


def _cores(phase: PhaseResult) -> str:
    seconds = phase.seconds or 1.0
    parts = [f"{name} {value / seconds:.2f}" for name, value in phase.cpu_seconds.items() if name != "machine"]
    other = phase.other_cores
    if other is not None:
        parts.append(f"other {other:.2f}" + (" !" if other >= CONTENDED_CORES else ""))
    return ", ".join(parts)


def table(phases: dict[str, PhaseResult], figures: dict[str, float], context: dict[str, Any]) -> str:
    """The human-readable report: every phase, service vs raw DB, search, then PASS/FAIL per target."""
    machine = context["machine"]
    lines = [f"Registry benchmark on {machine['cores']} cores ({machine['cpu_model']}); {context['description']}", ""]
    lines += _phase_rows(phases)
    lines += ["", "service vs raw DB (same SQL, same server, no HTTP), and CPU ms per request:"]
    for kind in ("write", "read"):
        lines += _baseline_lines(phases, kind)
    lines += _search_lines(phases, figures, context)
    lines += ["", f"{'target':<40}{'bound':>10}{'measured':>12}  result"]
    for target in TARGETS:
        if target.figure not in figures:
            lines.append(f"{target.name:<40}{target.describe():>10}{'-':>12}  not run")
            continue
        value = figures[target.figure]
        lines.append(
            f"{target.name:<40}{target.describe():>10}{value:>12.{1 if abs(value) >= 10 else 3}f}  "
            f"{'PASS' if target.met(value) else 'FAIL'}"
        )
    return "\n".join(lines)


def _phase_rows(phases: dict[str, PhaseResult]) -> list[str]:
    header = (
        f"{'phase':<48}{'req/s':>9}{'p50/p95/p99 ms':>26}{'errors':>8}  cores used (client, registry, postgres, other)"
    )
    rows = [header, "-" * len(header)]
    for key, phase in phases.items():
        name = key + (" OVERLOADED" if phase.overloaded else "")
        failed = phase.errors + phase.unfinished
        rows.append(f"{name:<48}{phase.rate:>9.1f}{_latencies(phase):>26}{failed:>8}  {_cores(phase)}")
    rows.append(f"('!': processes outside the benchmark used >= {CONTENDED_CORES} cores in that window)")
    for key, phase in phases.items():
        if phase.waited_ms:
            parts = (("dispatched late", phase.late_ms), ("no free connection", phase.waited_ms))
            parts += (("sent → answer", phase.served_ms),)
            split = [f"{label} {phase.percentile(50, v):.1f}/{phase.percentile(99, v):.1f}" for label, v in parts]
            rows.append(f"  {key}: p50/p99 ms " + ", ".join(split))
    for key, phase in phases.items():
        if phase.timeline:
            rows.append(f"  {key}: slowest half-seconds (cores by process kind)")
            rows += [f"    {timeline.describe(bucket)}" for bucket in timeline.slowest(phase.timeline)]
    return rows


def _baseline_lines(phases: dict[str, PhaseResult], kind: str) -> list[str]:
    service, raw = phases.get(f"http {kind} closed"), phases.get(f"raw {kind} closed")
    if service is None or raw is None:
        return []
    lines = [
        f"  {kind}s/s: service {service.rate:.1f} / raw {raw.rate:.1f} = {_ratio(service.rate, raw.rate):.2f}"
        f"; p50 service/raw = {_ratio(service.percentile(50), raw.percentile(50)):.2f}"
    ]
    rows = [("service", service, "registry"), ("raw same SQL", raw, "client")]
    for label, phase, process in rows:
        cost = cpu_ms_per_request(phase)
        lines.append(
            f"    {label:<18} {process} {cost.get(process, math.nan):6.2f}, "
            f"postgres {cost.get('postgres', math.nan):5.2f}  ({phase.rate:.1f}/s)"
        )
    return lines


def _search_lines(phases: dict[str, PhaseResult], figures: dict[str, float], context: dict[str, Any]) -> list[str]:
    if "search endpoint" not in phases or "search raw ann" not in phases:
        return []
    endpoint, raw = phases["search endpoint"], phases["search raw ann"]
    model = phases.get("search model only")
    single = phases.get("search model only, 1 torch thread")
    return [
        f"  search p50: endpoint {endpoint.percentile(50):.1f} ms / raw ANN {raw.percentile(50):.1f} ms "
        f"= {_ratio(endpoint.percentile(50), raw.percentile(50)):.1f}x; model alone "
        f"{model.percentile(50) if model else math.nan:.1f} ms "
        f"({single.percentile(50) if single else math.nan:.1f} ms on 1 torch thread); recall@10 endpoint "
        f"{figures.get('search_recall_at_10', math.nan):.3f}, raw {figures.get('raw_ann_recall_at_10', math.nan):.3f}",
        f"  searches/s: one at a time {figures.get('searches_per_second_sequential', math.nan):.1f}; "
        f"8 connections {figures.get('searches_per_second_concurrent', math.nan):.1f} "
        f"(p95 {figures.get('search_concurrent_p95_ms', math.nan):.1f} ms, recall@10 "
        f"{figures.get('search_concurrent_recall_at_10', math.nan):.3f}); the model alone, 8 queries a call on 1 "
        f"torch thread: {figures.get('model_only_batched_per_second', math.nan):.1f} queries/s",
        f"  corpus: {context.get('corpus')}",
        "  search by mode  p50 ms  p95 ms  recall@10 on the labelled set: by words  by meaning    all",
        *(
            f"    {mode:<12} {figures.get(f'search_{mode}_p50_ms', math.nan):6.1f}  "
            f"{figures.get(f'search_{mode}_p95_ms', math.nan):6.1f}  {' ' * 30}"
            f"{figures.get(f'search_{mode}_recall_by_words', math.nan):8.3f}  "
            f"{figures.get(f'search_{mode}_recall_by_meaning', math.nan):10.3f}  "
            f"{figures.get(f'search_{mode}_recall_all', math.nan):5.3f}"
            for mode in ("fulltext", "semantic", "hybrid")
        ),
    ]


def to_json(path: Path, phases: dict[str, PhaseResult], figures: dict[str, float], context: dict[str, Any]) -> None:
    document = {
        "context": context,
        "figures": {
            key: (None if isinstance(value, float) and math.isnan(value) else value) for key, value in figures.items()
        },
        "targets": [
            {
                "name": t.name,
                "figure": t.figure,
                "bound": t.describe(),
                "value": figures.get(t.figure),
                "met": t.met(figures.get(t.figure, math.nan)),
            }
            for t in TARGETS
        ],
        "phases": {
            key: phase.summary() | {"cpu_ms_per_request": cpu_ms_per_request(phase)} for key, phase in phases.items()
        },
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY))
