"""The Prometheus rules: valid for promtool as generated and as the chart renders them, unit-tested alert by alert
and recording rule by recording rule (tests/observability/rules/*.test.yaml), documented in the runbook, written
from the metric names the services export, and committed as generated."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from observability import names, rules
from observability.promql import metric_names
from tests.charts.helm import CHART, render

RULES = CHART / "files" / "rules"
UNIT_TESTS = Path(__file__).parent / "rules"
RUNBOOK = Path(__file__).resolve().parents[2] / "docs" / "runbook.md"
ANNOTATIONS = {"summary", "description", "runbook_url"}
RUNBOOK_HEADINGS = ("Meaning", "Impact", "Diagnosis", "Mitigation")


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """promtool (Debian's `prometheus` package, in the Makefile's SYSTEM_PACKAGES): missing is a failure."""
    found = shutil.which("promtool")
    if found is None:
        pytest.fail("promtool is missing: install Debian's prometheus package (make system-packages)")
    return subprocess.run([found, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def all_rules() -> list[dict[str, Any]]:
    return [rule for doc in rules.rule_files().values() for group in doc["groups"] for rule in group["rules"]]


def alerting_rules() -> list[dict[str, Any]]:
    return [rule for rule in all_rules() if "alert" in rule]


def recorded_names() -> set[str]:
    return {rule["record"] for rule in all_rules() if "record" in rule}


def unit_test_files() -> list[Path]:
    return sorted(UNIT_TESTS.glob("*.test.yaml"))


def test_the_committed_rule_files_are_the_generated_ones():
    files = rules.rule_files()
    committed = {p.name: p.read_text() for p in RULES.glob("*.yaml")}
    assert set(committed) == set(files), "run `python -m observability`"
    for name, document in files.items():
        assert committed[name] == rules.dump(document), f"{name} drifted from observability/rules.py"


def test_every_generated_rule_file_passes_promtool_check(tmp_path):
    paths = []
    for name, document in rules.rule_files().items():
        (tmp_path / name).write_text(rules.dump(document))
        paths.append(name)
    result = promtool("check", "rules", *paths, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_chart_renders_one_prometheus_rule_per_file_that_promtool_accepts(tmp_path):
    documents = [d for d in render("monitoring.labels.release=kps") if d["kind"] == "PrometheusRule"]
    by_name = {d["metadata"]["name"]: d for d in documents}
    assert set(by_name) == {f"dhg-{Path(name).stem}" for name in rules.rule_files()}
    for name, document in by_name.items():
        assert document["metadata"]["namespace"] == "dhg"
        assert document["metadata"]["labels"]["release"] == "kps"
        assert document["metadata"]["labels"]["app.kubernetes.io/part-of"] == "dhg-ai-factory"
        assert document["spec"] == rules.rule_files()[f"{name.removeprefix('dhg-')}.yaml"]
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(document["spec"]))
    result = promtool("check", "rules", *sorted(p.name for p in tmp_path.glob("*.yaml")), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_chart_renders_no_prometheus_rule_when_they_are_off():
    documents = render("monitoring.prometheusRules.enabled=false")
    assert not [d for d in documents if d["kind"] == "PrometheusRule"]


@pytest.mark.parametrize("path", unit_test_files(), ids=lambda p: p.name)
def test_the_promtool_unit_tests_pass(path):
    result = promtool("test", "rules", path.name, cwd=path.parent)
    assert result.returncode == 0, result.stdout + result.stderr


def _unit_tests() -> list[dict[str, Any]]:
    return [test for path in unit_test_files() for test in yaml.safe_load(path.read_text())["tests"]]


def test_every_unit_test_file_loads_rule_files_that_exist():
    for path in unit_test_files():
        for rule_file in yaml.safe_load(path.read_text())["rule_files"]:
            assert (path.parent / rule_file).resolve().is_file(), f"{path.name}: {rule_file}"


def test_every_alert_has_a_unit_test_where_it_fires_and_one_where_it_stays_silent():
    fired: set[str] = set()
    silent: set[str] = set()
    for test in _unit_tests():
        for case in test.get("alert_rule_test") or []:
            (fired if case.get("exp_alerts") else silent).add(case["alertname"])
    alerts = {rule["alert"] for rule in alerting_rules()}
    assert alerts - fired == set(), "alerts no unit test sees firing"
    assert alerts - silent == set(), "alerts no unit test sees silent"
    assert (fired | silent) - alerts == set(), "unit tests of alerts that do not exist"


def test_every_recording_rule_has_an_expression_test():
    tested = {
        name
        for test in _unit_tests()
        for case in test.get("promql_expr_test") or []
        for name in metric_names(case["expr"])
    }
    assert recorded_names() - tested == set()


def test_every_alert_is_labelled_annotated_and_in_the_runbook():
    runbook = RUNBOOK.read_text()
    sections = dict(re.findall(r"^## (\S+)\n(.*?)(?=^## |\Z)", runbook, flags=re.MULTILINE | re.DOTALL))
    for rule in alerting_rules():
        name = rule["alert"]
        assert rule["labels"]["severity"] in ("critical", "warning", "info"), name
        assert set(rule["annotations"]) >= ANNOTATIONS, name
        assert all(rule["annotations"][key].strip() for key in ANNOTATIONS), name
        assert rule["annotations"]["runbook_url"].endswith(f"docs/runbook.md#{name.lower()}")
        assert name in sections, f"docs/runbook.md has no `## {name}` section"
        headings = re.findall(r"^### (.+)$", sections[name], flags=re.MULTILINE)
        assert tuple(headings) == RUNBOOK_HEADINGS, f"{name}: {headings}"


def test_the_runbook_documents_no_alert_that_does_not_exist():
    runbook = RUNBOOK.read_text()
    documented = set(re.findall(r"^## (DHG\w+)$", runbook, flags=re.MULTILINE))
    assert documented == {rule["alert"] for rule in alerting_rules()}


def test_the_recording_rules_the_dashboards_rely_on_exist():
    expected = set()
    for service in ("registry", "asr"):
        expected.add(f"namespace_job:dhg_{service}_http_requests:rate5m")
        expected.add(f"namespace_route:dhg_{service}_http_request_duration_seconds:p95_5m")
        for window in ("5m", "30m", "1h", "2h", "6h", "1d", "3d"):
            expected.add(f"namespace_job:dhg_{service}_http_requests_errors:ratio_rate{window}")
    assert expected <= recorded_names()


def test_every_rule_reads_only_metrics_the_services_export():
    known = names.service_series() | {names.PG_UP, names.PG_CONNECTIONS, names.PG_MAX_CONNECTIONS, "up"}
    known |= recorded_names()
    unknown = {(name, metric) for name, expr in rules.expressions() for metric in metric_names(expr) - known}
    assert unknown == set()


def test_expressions_lists_every_rule_once():
    listed = rules.expressions()
    assert len(listed) == len(all_rules())
    assert {name for name, _ in listed} == {rule.get("alert") or rule["record"] for rule in all_rules()}
