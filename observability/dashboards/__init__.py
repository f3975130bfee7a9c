"""Grafana dashboards as code (grafana-foundation-sdk), one builder function per dashboard, written to the chart's
files/dashboards/<uid>.json, which the chart ships as ConfigMaps for Grafana's sidecar.

Queries use only these template variables: `$namespace`, `$__rate_interval` and `$__interval` (Prometheus); and
`$namespace`, `$service`, `$level`, `$job_id` and `$__interval` (Loki). To run one outside Grafana, substitute them
(`$service` and `$level` by a regular expression such as `.+`, `$job_id` by a job id's beginning or nothing)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from observability.dashboards.board import Board, Query
from observability.dashboards.logs import logs
from observability.dashboards.overview import overview
from observability.dashboards.registry_data import registry_data
from observability.dashboards.services import asr_red, controller_red, registry_red

__all__ = ["BUILDERS", "Query", "dashboards", "queries", "render", "write"]

BUILDERS: tuple[Callable[[], Board], ...] = (overview, registry_red, asr_red, controller_red, registry_data, logs)
DIRECTORY = "dashboards"


def _boards() -> list[Board]:
    return [build() for build in BUILDERS]


def dashboards() -> dict[str, dict[str, Any]]:
    """Every dashboard's JSON model, by uid."""
    return {board.uid: board.json() for board in _boards()}


def queries() -> list[Query]:
    """Every query of every panel, with its dashboard, panel title, datasource kind and whether traffic shows it."""
    return [query for board in _boards() for query in board.queries]


def render(model: dict[str, Any]) -> str:
    """A dashboard as its committed file: sorted keys, two-space indent, a trailing newline."""
    return json.dumps(model, indent=2, sort_keys=True) + "\n"


def write(chart_files_dir: Path) -> list[Path]:
    """Write every dashboard to `chart_files_dir`/dashboards/<uid>.json, removing any that no builder makes."""
    directory = chart_files_dir / DIRECTORY
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for uid, model in dashboards().items():
        path = directory / f"{uid}.json"
        path.write_text(render(model))
        written.append(path)
    for stale in set(directory.glob("*.json")) - set(written):
        stale.unlink()
    return written
