"""The names the services' metrics are scraped under, read from their metrics modules (the one source of truth):
rules and dashboards name a metric only through this module, so renaming one there changes them here, and the
drift tests fail until the generated files are written again."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from asr import metrics as asr
from controller import metrics as controller
from registry import metrics as registry

Metric = Counter | Gauge | Histogram


def exposed(metric: Metric) -> str:
    """The series name: a counter's ends in `_total`; a histogram's series add `_bucket`, `_sum` and `_count`."""
    (family,) = metric.describe()
    return f"{family.name}_total" if isinstance(metric, Counter) else family.name


def bucket(metric: Histogram) -> str:
    return f"{exposed(metric)}_bucket"


def count(metric: Histogram) -> str:
    return f"{exposed(metric)}_count"


def total(metric: Histogram) -> str:
    """A histogram's `_sum` series."""
    return f"{exposed(metric)}_sum"


# The `job` label of each component's targets: the chart's ServiceMonitors take it from the Services'
# app.kubernetes.io/component label; `dhg up --monitoring` names its scrape jobs the same.
REGISTRY_JOB, EMBEDDINGS_JOB, ASR_JOB, CONTROLLER_JOB, POSTGRESQL_JOB = (
    "registry",
    "embeddings",
    "asr",
    "controller",
    "postgresql",
)

# postgres_exporter's names (prometheus-community/postgres_exporter; stable since 0.8): the chart's sidecar.
PG_UP = "pg_up"
PG_CONNECTIONS = "pg_stat_activity_count"
PG_MAX_CONNECTIONS = "pg_settings_max_connections"

MODULES = {"registry": registry, "asr": asr, "controller": controller}


def service_series() -> set[str]:
    """Every series name the services export (a histogram's three), for checks on names used in queries."""
    names: set[str] = set()
    for module in MODULES.values():
        for value in vars(module).values():
            if isinstance(value, Histogram):
                names |= {bucket(value), count(value), total(value)}
            elif isinstance(value, (Counter, Gauge)):
                names.add(exposed(value))
    return names
