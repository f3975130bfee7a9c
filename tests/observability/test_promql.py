"""observability.promql.metric_names: the metric names of an expression, and nothing else."""

from __future__ import annotations

import pytest

from observability.promql import metric_names


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("up", {"up"}),
        ('up{job="registry"} == 0', {"up"}),
        ("sum by (namespace, job) (rate(dhg_asr_http_requests_total[5m]))", {"dhg_asr_http_requests_total"}),
        ("sum(rate(a_total[5m])) by (namespace) / sum without (pod) (b)", {"a_total", "b"}),
        (
            'histogram_quantile(0.95, sum by (le, route) (rate(x_bucket{route!~"/healthz|/readyz"}[5m])))',
            {"x_bucket"},
        ),
        ("a > on (namespace) group_left (phase) b", {"a", "b"}),
        ("a and ignoring (pod) b unless on(namespace) c or d", {"a", "b", "c", "d"}),
        ("rate(a[5m] offset 1h) > bool 1e3", {"a"}),
        ("max_over_time(a[1h:5m]) * 2.5 + Inf - NaN", {"a"}),
        ('label_replace(a, "dst", "$1", "src", "(sum|rate)")', {"a"}),
        ('{__name__="named_by_matcher", job="x"}', {"named_by_matcher"}),
        ("namespace_job:dhg_asr_http_requests:rate5m > 0.1", {"namespace_job:dhg_asr_http_requests:rate5m"}),
        ('sum(rate(a{namespace=~"$namespace"}[$__rate_interval])) / ${scale}', {"a"}),
        ("count (a) # a comment naming b\n", {"a"}),
        ("sum  by(namespace)  (deriv(gauge_x[30m])) >= 0", {"gauge_x"}),
        ("vector(1)", set()),
        ("scalar(a) * time()", {"a"}),
    ],
)
def test_metric_names(expr, expected):
    assert metric_names(expr) == expected


def test_a_name_that_only_looks_like_a_keyword_is_a_name():
    assert metric_names("by_route_total + on_call") == {"by_route_total", "on_call"}
