"""What the Registry and the ASR service share: HTTP request counters and latency histograms by route template, the
recording rules over them, and the alerts on a service's targets, 5xx ratio and p95 latency by route."""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

from asr import metrics as asr_metrics
from asr.protocol import TRANSCRIPTIONS_PATH, TRANSLATIONS_PATH
from observability import names
from observability.rulekit import API, SERVER_ERROR, Rule, alert, record
from registry import metrics as registry_metrics

# A route is judged on its errors and latency only with at least this much traffic (0.05/s: 15 requests in 5m).
MIN_ROUTE_RATE = 0.05
ERROR_RATIO = 0.05  # 5xx above 5% of a route's requests for 10 minutes: one broken endpoint, before the SLO burns


@dataclass(frozen=True)
class Service:
    """One HTTP service: how its alerts are named, its scrape job, and its metrics module."""

    title: str  # in alert names: DHG<title>Down
    label: str  # in prose
    job: str
    module: ModuleType
    latency_seconds: float  # p95 above this (a bucket bound of its histogram) for 15 minutes is slow
    # Routes whose time is the media's, not the service's (uploads, downloads, decoding a whole file): no latency
    # alert; a regular expression over route templates.
    slow_by_design: str

    @property
    def requests(self) -> str:
        return names.exposed(self.module.HTTP_REQUESTS)

    @property
    def latency(self) -> str:
        return names.exposed(self.module.HTTP_LATENCY)

    @property
    def stem(self) -> str:
        """The counter's name without `_total`, as recording rules name it."""
        return self.requests.removesuffix("_total")

    @property
    def rate5m(self) -> str:
        return f"namespace_job:{self.stem}:rate5m"

    @property
    def route_rate5m(self) -> str:
        return f"namespace_route:{self.stem}:rate5m"

    @property
    def route_errors5m(self) -> str:
        return f"namespace_route:{self.stem}_errors:ratio_rate5m"

    @property
    def route_p95(self) -> str:
        return f"namespace_route:{self.latency}:p95_5m"

    def errors_ratio(self, window: str) -> str:
        """The SLO's recording rule: the share of API requests answered 5xx over `window`, by namespace and job."""
        return f"namespace_job:{self.stem}_errors:ratio_rate{window}"


REGISTRY = Service(
    title="Registry",
    label="the Registry",
    job=names.REGISTRY_JOB,
    module=registry_metrics,
    latency_seconds=1,
    slow_by_design="/v1/assets(/.+/content)?",  # uploads (POST /v1/assets share the list's template), downloads
)
ASR = Service(
    title="ASR",
    label="the ASR service",
    job=names.ASR_JOB,
    module=asr_metrics,
    latency_seconds=10,
    slow_by_design=f"{TRANSCRIPTIONS_PATH}|{TRANSLATIONS_PATH}",  # a synchronous call lasts as long as its audio
)
SERVICES = (REGISTRY, ASR)


def recording_rules(service: Service) -> list[Rule]:
    """Request rates, 5xx ratios and p95 latency: what the alerts below and the services' dashboards read."""
    requests, bucket = service.requests, names.bucket(service.module.HTTP_LATENCY)
    return [
        record(service.rate5m, f"sum by (namespace, job) (rate({requests}[5m]))"),
        record(service.route_rate5m, f"sum by (namespace, route) (rate({requests}[5m]))"),
        record(
            service.route_errors5m,
            f"""
            sum by (namespace, route) (rate({requests}{{{SERVER_ERROR}}}[5m]))
              /
            sum by (namespace, route) (rate({requests}[5m]))
            """,
        ),
        record(service.route_p95, f"histogram_quantile(0.95, sum by (namespace, route, le) (rate({bucket}[5m])))"),
    ]


def alerts(service: Service) -> list[Rule]:
    """The service is down, or one of its API routes fails or is slow."""
    title, label, busy = service.title, service.label, f"{service.route_rate5m} > {MIN_ROUTE_RATE}"
    return [
        alert(
            f"DHG{title}Down",
            f'max by (namespace) (up{{job="{service.job}"}}) == 0',
            duration="5m",
            severity="critical",
            summary=f"{label[0].upper()}{label[1:]} is down.",
            description=f"""No target of {label} in namespace {{{{ $labels.namespace }}}} has answered Prometheus'
                scrapes for 5 minutes.""",
        ),
        alert(
            f"DHG{title}HighErrorRate",
            f"""
            {service.route_errors5m}{{{API}}} > {ERROR_RATIO}
            and on (namespace, route)
            {busy}
            """,
            duration="10m",
            severity="warning",
            summary=f"A route of {label} answers many server errors.",
            description=f"""{{{{ $value | humanizePercentage }}}} of the requests to {{{{ $labels.route }}}} of
                {label} in namespace {{{{ $labels.namespace }}}} failed with a 5xx status over the last 5
                minutes.""",
        ),
        alert(
            f"DHG{title}HighLatency",
            f"""
            {service.route_p95}{{{API}, route!~"{service.slow_by_design}"}} > {service.latency_seconds:g}
            and on (namespace, route)
            {busy}
            """,
            duration="15m",
            severity="warning",
            summary=f"A route of {label} is slow.",
            description=f"""The 95th percentile latency of {{{{ $labels.route }}}} of {label} in namespace
                {{{{ $labels.namespace }}}} is {{{{ $value | humanizeDuration }}}} (above
                {service.latency_seconds:g}s).""",
        ),
    ]
