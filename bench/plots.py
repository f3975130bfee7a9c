"""Curves the scale benchmarks draw (PNG, matplotlib's Agg backend: no display needed)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path


def line_plot(
    path: Path,
    title: str,
    xlabel: str,
    panels: Sequence[tuple[str, Mapping[str, Sequence[tuple[float, float]]]]],
    *,
    logx: bool = False,
) -> Path:
    """One row of panels sharing the x axis: each (y label, {series label: [(x, y), ...]}), points marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4.2), squeeze=False)
    for axis, (ylabel, series) in zip(axes[0], panels, strict=True):
        for label, points in series.items():
            xs, ys = zip(*sorted(points), strict=True) if points else ((), ())
            axis.plot(xs, ys, marker="o", label=label)
        axis.set_xlabel(xlabel)
        axis.set_ylabel(ylabel)
        axis.grid(True, alpha=0.3)
        axis.set_ylim(bottom=0)
        if logx:
            axis.set_xscale("log")
        axis.legend()
    figure.suptitle(title)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
