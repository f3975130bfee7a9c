"""The APIs' availability SLO, 99.9% of API requests not answered 5xx over 30 days, and its multiwindow,
multi-burn-rate alerts as the SRE workbook (chapter 5, "Alerting on SLOs") sets them: a burn rate of 14.4 over 1h
(2% of the month's budget) or 6 over 6h (5%) pages; 3 over 1d (10%) or 1 over 3d opens a ticket. Each long window
has a short one (1/12 of it) that must burn too, so the alert stops soon after the errors do."""

from __future__ import annotations

from dataclasses import dataclass

from observability.http import SERVICES, Service
from observability.rulekit import API, SERVER_ERROR, Rule, alert, record

OBJECTIVE = 0.999
BUDGET = round(1 - OBJECTIVE, 9)  # 0.001, without the float subtraction's tail
# Below this many API requests in the long window a few errors are noise, not a burn: no alert (quiet systems).
MIN_REQUESTS = 100


@dataclass(frozen=True)
class Burn:
    long: str
    short: str
    factor: float
    duration: str
    severity: str


BURNS = (
    Burn("1h", "5m", 14.4, "2m", "critical"),
    Burn("6h", "30m", 6, "15m", "critical"),
    Burn("1d", "2h", 3, "1h", "warning"),
    Burn("3d", "6h", 1, "3h", "warning"),
)
WINDOWS = sorted(
    {w for burn in BURNS for w in (burn.long, burn.short)}, key=lambda w: ("mhd".index(w[-1]), int(w[:-1]))
)


def recording_rules(service: Service) -> list[Rule]:
    """The share of API requests answered 5xx, by namespace and job, over every window the burns read: 0, not
    absent, while requests were served and none failed (the 5xx series appear only with the first one), so that
    dashboards and the error budget read a healthy service as healthy."""
    requests = service.requests
    return [
        record(
            service.errors_ratio(window),
            f"""
            (
              sum by (namespace, job) (rate({requests}{{{API}, {SERVER_ERROR}}}[{window}]))
              or
              0 * sum by (namespace, job) (rate({requests}{{{API}}}[{window}]))
            )
              /
            sum by (namespace, job) (rate({requests}{{{API}}}[{window}]))
            """,
        )
        for window in WINDOWS
    ]


def burn_alert(service: Service, burn: Burn) -> Rule:
    threshold, requests = f"{burn.factor:g} * {BUDGET:g}", service.requests
    return alert(
        f"DHG{service.title}ErrorBudgetBurn",
        f"""
        {service.errors_ratio(burn.long)} > ({threshold})
        and
        {service.errors_ratio(burn.short)} > ({threshold})
        and on (namespace, job)
        sum by (namespace, job) (increase({requests}{{{API}}}[{burn.long}])) >= {MIN_REQUESTS}
        """,
        duration=burn.duration,
        severity=burn.severity,
        summary=f"{service.label[0].upper()}{service.label[1:]} burns its error budget too fast.",
        description=f"""{{{{ $value | humanizePercentage }}}} of the API requests to {service.label} in
            namespace {{{{ $labels.namespace }}}} failed over the last {burn.long}: at this rate (a burn rate of
            {burn.factor:g}) the 30-day budget of {BUDGET:.1%} errors lasts {30 / burn.factor:.3g} days.""",
        long=burn.long,
        short=burn.short,
    )


def slo_rules() -> list[Rule]:
    rules = [rule for service in SERVICES for rule in recording_rules(service)]
    return rules + [burn_alert(service, burn) for service in SERVICES for burn in BURNS]
