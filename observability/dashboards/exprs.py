"""PromQL shapes the dashboards repeat. Every selector filters on the `namespace` variable; every range is
`$__rate_interval`, so a panel stays right at any zoom and scrape interval."""

from __future__ import annotations

from prometheus_client import Histogram

from observability.names import bucket

NAMESPACE = 'namespace=~"$namespace"'
RANGE = "[$__rate_interval]"


def selector(series: str, *matchers: str) -> str:
    return f"{series}{{{', '.join((NAMESPACE, *matchers))}}}"


def rate(series: str, *matchers: str) -> str:
    return f"rate({selector(series, *matchers)}{RANGE})"


def summed(by: str, inner: str) -> str:
    return f"sum by ({by}) ({inner})"


def increase(series: str, by: str, *matchers: str) -> str:
    """How many times the counter went up in each interval, by `by`."""
    return summed(by, f"increase({selector(series, *matchers)}{RANGE})")


def quantile(q: float, histogram: Histogram, by: str, *matchers: str) -> str:
    """The q-quantile of a histogram's observations in each interval, by `by` (empty: over everything)."""
    grouping = f"{by}, le" if by else "le"
    return f"histogram_quantile({q}, {summed(grouping, rate(bucket(histogram), *matchers))})"


def error_ratio(requests: str, by: str = "namespace") -> str:
    """5xx responses over all responses, by `by`. The 5xx rate is topped up with zeros from the other series, so the
    ratio is 0 rather than absent while nothing failed (the 5xx series appear only with the first error)."""
    failed = rate(requests, 'status=~"5.."')
    errors = f"{failed} or 0 * {rate(requests)}"
    return f"{summed(by, errors)} / {summed(by, rate(requests))}"
