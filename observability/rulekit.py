"""The pieces every rule group is made of: alerting rules with the labels and annotations kube-prometheus's alerts
carry, recording rules, and the SLI selectors the groups share."""

from __future__ import annotations

import textwrap
from typing import Any

RUNBOOK = "https://github.com/dhg-ai/factory/blob/main/docs/runbook.md"
SEVERITIES = ("critical", "warning", "info")  # critical pages, warning opens a ticket, info only shows

# Requests that are not the API: probes and scrapes. They are left out of error ratios and latency because the
# kubelet's /readyz answers 503 while the database is away, and probes would dominate a quiet service's traffic.
OPERATIONAL_ROUTES = ("/healthz", "/readyz", "/metrics")
API = f'route!~"{"|".join(OPERATIONAL_ROUTES)}"'
SERVER_ERROR = 'status=~"5.."'

Rule = dict[str, Any]


def promql(text: str) -> str:
    """An expression written as an indented block in the source: dedented, without surrounding blank lines."""
    return textwrap.dedent(text).strip()


def runbook_url(name: str) -> str:
    """The runbook section of an alert: GitHub's anchor of a `## Name` heading is the name lower-cased."""
    return f"{RUNBOOK}#{name.lower()}"


def alert(
    name: str, expr: str, *, severity: str, summary: str, description: str, duration: str = "", **labels: str
) -> Rule:
    """An alerting rule; `duration` is its `for:` (empty: fires on the first evaluation that matches)."""
    if severity not in SEVERITIES:
        raise ValueError(f"{name}: severity {severity!r} is not one of {SEVERITIES}")
    rule: Rule = {"alert": name, "expr": promql(expr)}
    if duration:
        rule["for"] = duration
    rule["labels"] = {"severity": severity, **labels}
    rule["annotations"] = {
        "summary": summary,
        "description": " ".join(description.split()),
        "runbook_url": runbook_url(name),
    }
    return rule


def record(name: str, expr: str) -> Rule:
    return {"record": name, "expr": promql(expr)}


def group(name: str, rules: list[Rule]) -> dict[str, Any]:
    return {"name": name, "rules": rules}
