"""Local monitoring (`dhg up --monitoring`): a real Prometheus from the distribution's package on 127.0.0.1,
scraping the local services with the same recording and alerting rules the chart ships."""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from dhg.errors import StackError

PROMETHEUS = "prometheus"
# Every local target carries the label a cluster's series get from their namespace, so that the rules and the
# dashboards' queries, which aggregate by namespace, read local metrics unchanged.
LOCAL_NAMESPACE = "local"
RETENTION = "7d"
INSTALL_HINT = "install it (Debian, Ubuntu: `sudo apt-get install prometheus`) or start without --monitoring"


def find_prometheus() -> Path:
    """The Prometheus server on PATH; StackError saying how to get one when there is none."""
    found = shutil.which(PROMETHEUS)
    if found is None:
        raise StackError(f"--monitoring needs a Prometheus server and none is on PATH; {INSTALL_HINT}")
    return Path(found)


def write_rules(directory: Path) -> list[Path]:
    """The chart's rule files, written where the local Prometheus reads them; returns their paths."""
    from observability.rules import rule_files

    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.yaml"):
        stale.unlink()
    paths = []
    for name, document in sorted(rule_files().items()):
        path = directory / name
        path.write_text(yaml.safe_dump(document, sort_keys=False))
        paths.append(path)
    return paths


def scrape_config(
    targets: Mapping[str, Sequence[str]], *, rule_files: Sequence[Path], interval: str = "15s"
) -> dict[str, Any]:
    """A Prometheus configuration: one scrape job per component (`job` as the chart's ServiceMonitors name it),
    every target labelled with the local namespace; rules evaluated as often as targets are scraped."""
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": [str(path) for path in rule_files],
        "scrape_configs": [
            {
                "job_name": job,
                "static_configs": [{"targets": list(addresses), "labels": {"namespace": LOCAL_NAMESPACE}}],
            }
            for job, addresses in targets.items()
        ],
    }


def prometheus_arguments(config: Path, storage: Path, address: str) -> list[str]:
    """What follows the binary on its command line (the config first: how a leftover one is recognised)."""
    return [
        f"--config.file={config}",
        f"--storage.tsdb.path={storage}",
        f"--storage.tsdb.retention.time={RETENTION}",
        f"--web.listen-address={address}",
    ]


@dataclass(frozen=True)
class Alert:
    name: str
    severity: str
    summary: str
    active_since: str


def firing_alerts(url: str, timeout: float = 3.0) -> list[Alert]:
    """The alerts firing now in the Prometheus at `url` (pending ones are not firing yet)."""
    response = httpx.get(f"{url}/api/v1/alerts", timeout=timeout)
    response.raise_for_status()
    return sorted(
        (
            Alert(
                name=alert["labels"].get("alertname", "?"),
                severity=alert["labels"].get("severity", "?"),
                summary=alert.get("annotations", {}).get("summary", ""),
                active_since=alert.get("activeAt", ""),
            )
            for alert in response.json()["data"]["alerts"]
            if alert.get("state") == "firing"
        ),
        key=lambda alert: (alert.severity != "critical", alert.name),
    )
