"""The Grafana dashboards: generated files match the code, every panel is complete (unit, description, a datasource
variable), every query names only metrics the services export (or the recording rules the rules part promises), and
the chart ships each dashboard as a ConfigMap Grafana's sidecar picks up."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models.dashboard import Dashboard

from asr import metrics as asr_metrics
from observability import dashboards, names
from observability.promql import metric_names
from registry import metrics as registry_metrics
from tests.charts.helm import CHART, render

FILES = CHART / "files" / "dashboards"
MODELS = dashboards.dashboards()
QUERIES = dashboards.queries()
DATASOURCES = {"prometheus": ("datasource", "prometheus"), "loki": ("loki", "loki")}  # kind: (variable, default uid)
VARIABLES = {
    "prometheus": {"$namespace", "$__rate_interval", "$__interval"},
    "loki": {"$namespace", "$service", "$level", "$job_id", "$__interval"},
}
LOKI_LABELS = {"namespace", "service", "level"}  # what the log pipeline promotes to stream labels
BURN_WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
CONFIGMAP_LIMIT = 262_144  # bytes: what `kubectl apply` (client side) can keep in its last-applied annotation


def contract_recording_rules() -> set[str]:
    """The recording rules the contract between the rules and the dashboards lists (and only those)."""
    found = set()
    for module in (registry_metrics, asr_metrics):
        stem = names.exposed(module.HTTP_REQUESTS).removesuffix("_total")
        found.add(f"namespace_job:{stem}:rate5m")
        found |= {f"namespace_job:{stem}_errors:ratio_rate{window}" for window in BURN_WINDOWS}
        found.add(f"namespace_route:{names.exposed(module.HTTP_LATENCY)}:p95_5m")
    return found


KNOWN_SERIES = (
    names.service_series()
    | {names.PG_UP, names.PG_CONNECTIONS, names.PG_MAX_CONNECTIONS, "up"}
    | contract_recording_rules()
)


def panels(model: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, rows included, and the panels inside collapsed rows."""
    for panel in model.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def graphs(model: dict[str, Any]) -> Iterator[dict[str, Any]]:
    return (panel for panel in panels(model) if panel["type"] != "row")


def variables(model: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {variable["name"]: variable for variable in model["templating"]["list"]}


def kind_of(panel: dict[str, Any]) -> str:
    return str(panel["datasource"]["type"])


@pytest.fixture(params=sorted(MODELS), ids=sorted(MODELS))
def model(request: pytest.FixtureRequest) -> dict[str, Any]:
    return MODELS[request.param]


def test_the_committed_files_are_the_generated_dashboards():
    committed = {path.stem: path.read_text() for path in FILES.glob("*.json")}
    assert set(committed) == set(MODELS), "run: python -m observability"
    for uid, model in MODELS.items():
        assert committed[uid] == dashboards.render(model), f"{uid}.json is stale: run python -m observability"


def test_write_writes_the_committed_files_and_removes_stale_ones(tmp_path):
    (tmp_path / "dashboards").mkdir()
    (tmp_path / "dashboards" / "dhg-gone.json").write_text("{}")
    dashboards.write(tmp_path)
    written = {path.name: path.read_text() for path in (tmp_path / "dashboards").iterdir()}
    assert written == {path.name: path.read_text() for path in FILES.glob("*.json")}


def test_each_dashboard_round_trips_through_the_sdks_models(model):
    """The SDK decodes only the fields its schema knows: a misspelt or misplaced field does not come back."""
    register_default_plugins()
    decoded = Dashboard.from_json(model)
    assert json.loads(json.dumps(decoded, cls=JSONEncoder)) == model


def test_uids_are_stable_unique_and_tagged():
    assert all(uid.startswith("dhg-") and 8 <= len(uid) <= 40 for uid in MODELS), sorted(MODELS)
    assert {model["uid"] for model in MODELS.values()} == set(MODELS)
    assert len({model["title"] for model in MODELS.values()}) == len(MODELS)
    assert all("dhg" in model["tags"] for model in MODELS.values())


def test_panel_ids_are_unique_within_a_dashboard(model):
    ids = [panel["id"] for panel in panels(model)]
    assert all(isinstance(i, int) and i > 0 for i in ids), ids
    assert len(ids) == len(set(ids)), f"{model['uid']}: duplicate panel ids"


def test_panels_fit_the_grid_without_overlapping(model):
    cells: dict[tuple[int, int], str] = {}
    for panel in panels(model):
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = panel["title"]


def test_every_panel_has_a_title_unit_description_and_queries(model):
    for panel in graphs(model):
        title = panel.get("title")
        assert title, panel["id"]
        assert panel["fieldConfig"]["defaults"].get("unit"), f"{model['uid']} / {title}: no unit"
        assert len(panel.get("description", "")) > 20, f"{model['uid']} / {title}: no description"
        assert panel.get("targets"), f"{model['uid']} / {title}: no query"
        assert len({target["refId"] for target in panel["targets"]}) == len(panel["targets"]), title
    titles = [panel["title"] for panel in graphs(model)]
    assert len(titles) == len(set(titles)), f"{model['uid']}: two panels share a title"


def test_rows_ask_questions(model):
    rows = [panel["title"] for panel in panels(model) if panel["type"] == "row"]
    assert rows and all(title.endswith("?") or title == "Lines" for title in rows), rows


def test_datasources_are_the_dashboards_variables(model):
    defined = variables(model)
    for kind, (name, uid) in DATASOURCES.items():
        if name in defined:
            variable = defined[name]
            assert (variable["type"], variable["query"], variable["current"]["value"]) == ("datasource", kind, uid)
    assert "datasource" in defined, "every dashboard picks its Prometheus"
    for panel in graphs(model):
        kind = kind_of(panel)
        expected = {"type": kind, "uid": f"${{{DATASOURCES[kind][0]}}}"}
        assert DATASOURCES[kind][0] in defined, f"{panel['title']}: no ${DATASOURCES[kind][0]} variable"
        assert panel["datasource"] == expected, panel["title"]
        assert all(target["datasource"] == expected for target in panel["targets"]), panel["title"]
    for variable in defined.values():
        if "datasource" in variable:
            kind = variable["datasource"]["type"]
            assert variable["datasource"] == {"type": kind, "uid": f"${{{DATASOURCES[kind][0]}}}"}, variable["name"]


def test_the_namespace_variable_lists_the_namespaces_of_a_known_metric(model):
    variable = variables(model)["namespace"]
    assert (variable["type"], variable["multi"], variable["includeAll"]) == ("query", True, True)
    match = re.fullmatch(r"label_values\((.+), namespace\)", variable["query"])
    assert match, variable["query"]
    assert metric_names(match.group(1)) <= KNOWN_SERIES


def test_the_logs_dashboard_filters_by_service_level_and_job():
    defined = variables(MODELS["dhg-logs"])
    assert defined["service"]["datasource"] == {"type": "loki", "uid": "${loki}"}
    assert (defined["level"]["type"], defined["level"]["query"]) == ("custom", "debug,info,warning,error")
    assert defined["job_id"]["type"] == "textbox"
    loki = [query.expr for query in QUERIES if query.datasource == "loki"]
    assert loki and all("$service" in expr and "$job_id" in expr for expr in loki), loki
    assert any("$level" in expr for expr in loki)


def targets(model: dict[str, Any]) -> Iterator[tuple[str, str, str]]:
    for panel in graphs(model):
        for target in panel["targets"]:
            yield panel["title"], kind_of(panel), target["expr"]


def test_queries_are_exactly_the_panels_targets():
    listed = sorted((q.dashboard, q.panel, q.datasource, q.expr) for q in QUERIES)
    found = sorted((uid, title, kind, expr) for uid, model in MODELS.items() for title, kind, expr in targets(model))
    assert listed == found
    assert all(isinstance(query.traffic, bool) for query in QUERIES)


def test_every_prometheus_query_names_only_exported_series_or_contract_rules():
    for query in QUERIES:
        if query.datasource == "prometheus":
            unknown = metric_names(query.expr) - KNOWN_SERIES
            assert not unknown, f"{query.dashboard} / {query.panel}: {sorted(unknown)} in {query.expr}"
            assert metric_names(query.expr), query.expr


def test_every_prometheus_query_parses_in_promtool(tmp_path):
    """Each query, its variables substituted as Grafana would, checked by promtool (2.42, the local Prometheus)."""
    promtool = shutil.which("promtool")
    assert promtool is not None, "promtool is missing: `make system-packages` installs Debian's prometheus"
    substitutes = {"$namespace": "local", "$__rate_interval": "1m", "$__interval": "30s"}
    rules = []
    for number, query in enumerate(q for q in QUERIES if q.datasource == "prometheus"):
        expr = query.expr
        for variable, value in substitutes.items():
            expr = expr.replace(variable, value)
        rules.append({"record": f"dashboard:query_{number}", "expr": expr})
    path = tmp_path / "queries.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_queries_use_only_the_variables_the_query_tests_substitute():
    for query in QUERIES:
        used = set(re.findall(r"\$\w+", query.expr))
        assert used <= VARIABLES[query.datasource], f"{query.panel}: {sorted(used - VARIABLES[query.datasource])}"
        assert "$namespace" in used, f"{query.panel}: not filtered by namespace"


def test_prometheus_queries_select_on_names_and_namespace_and_job_only_for_up():
    for query in QUERIES:
        if query.datasource == "prometheus":
            for selector in re.findall(r"(\w+)\{([^}]*)\}", query.expr):
                assert selector[0] == "up" or "job=" not in selector[1].replace(" ", ""), query.expr
            assert not re.search(r"by \([^)]*\b(pod|instance)\b", query.expr), query.expr


def test_loki_streams_select_only_on_promoted_labels():
    for query in QUERIES:
        if query.datasource == "loki":
            stream = re.match(r"(?:.*?\()?\{([^}]*)\}", query.expr)
            assert stream, query.expr
            labels = {matcher.split("=")[0].strip() for matcher in stream.group(1).split(",")}
            assert labels <= LOKI_LABELS, f"{query.panel}: {labels - LOKI_LABELS} are not stream labels"


def test_panels_that_need_postgres_exporter_do_not_expect_traffic():
    """Local mode runs no postgres_exporter: those series cannot exist in the query tests' run."""
    exporter = {names.PG_UP, names.PG_CONNECTIONS, names.PG_MAX_CONNECTIONS}
    for query in QUERIES:
        if query.datasource == "prometheus" and metric_names(query.expr) & exporter:
            assert not query.traffic, query.panel
    assert sum(query.traffic for query in QUERIES) > len(QUERIES) * 3 // 4, "most panels must show traffic"


def dashboard_configmaps(*sets: str) -> list[dict[str, Any]]:
    return [d for d in render(*sets) if d["kind"] == "ConfigMap" and "-dashboard-" in d["metadata"]["name"]]


def test_the_chart_ships_each_dashboard_as_a_configmap_for_grafanas_sidecar():
    configmaps = dashboard_configmaps()
    assert len(configmaps) == len(MODELS)
    shipped = {}
    for configmap in configmaps:
        metadata = configmap["metadata"]
        assert metadata["labels"]["grafana_dashboard"] == "1", metadata["name"]
        assert metadata["labels"]["app.kubernetes.io/part-of"] == "dhg-ai-factory"
        assert metadata["annotations"]["grafana_folder"] == "DHG AI Factory"
        ((key, text),) = configmap["data"].items()
        assert len(text.encode()) < CONFIGMAP_LIMIT, f"{key}: {len(text.encode())} bytes"
        shipped[key] = json.loads(text)
        assert metadata["name"] == f"dhg-dashboard-{key.removesuffix('.json').removeprefix('dhg-')}"
    assert shipped == {f"{uid}.json": model for uid, model in MODELS.items()}


def test_the_dashboards_follow_their_values():
    assert dashboard_configmaps("monitoring.dashboards.enabled=false") == []
    (configmap, *_) = dashboard_configmaps("monitoring.dashboards.labels.team=media", "monitoring.dashboards.folder=X")
    assert configmap["metadata"]["labels"]["team"] == "media"
    assert configmap["metadata"]["annotations"]["grafana_folder"] == "X"
