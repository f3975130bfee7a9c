"""What every dashboard shares, on top of grafana-foundation-sdk's builders: the template variables, the datasource
references, and a `Board` that places rows and panels, numbers them, and records each panel's queries (with whether
the test workload must make them show a series) for `queries()`."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from typing import Any, Literal

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard, logs, loki, prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models.dashboard import (
    DashboardCursorSync,
    DashboardLinkType,
    DataSourceRef,
    Threshold,
    ThresholdsMode,
    VariableOption,
    VariableRefresh,
    VariableSort,
)

Kind = Literal["prometheus", "loki"]
TAG = "dhg"
# The datasources' uids in kube-prometheus-stack's values (and `dhg up --monitoring`): the variables' defaults.
DATASOURCE_UIDS: dict[Kind, str] = {"prometheus": "prometheus", "loki": "loki"}
# The variable of each kind of datasource, and the reference every panel and query carries.
VARIABLES: dict[Kind, str] = {"prometheus": "datasource", "loki": "loki"}
REFERENCES = {kind: DataSourceRef(type_val=kind, uid=f"${{{name}}}") for kind, name in VARIABLES.items()}
WIDTH = 24
ALL = VariableOption(selected=True, text=["All"], value=["$__all"])
UP = ((None, "red"), (1, "green"))  # stat colours of a 1/0 health value, or of a count that must not be 0


@dataclass(frozen=True)
class Query:
    """One query of a dashboard panel. `traffic`: the panel must show at least one series once the test workload
    (uploads, ASR transcriptions, searches, a webhook, TranscriptionJobs with a CPU fallback and a failure) ran."""

    dashboard: str
    panel: str
    datasource: Kind
    expr: str
    traffic: bool = True


@dataclass(frozen=True)
class Target:
    """A query as a panel holds it: the expression, its legend, and whether the workload must make it show."""

    expr: str
    legend: str = ""
    traffic: bool = True


def datasource_variable(kind: Kind) -> dashboard.DatasourceVariable:
    name = VARIABLES[kind]
    return (
        dashboard.DatasourceVariable(name)
        .label("Prometheus" if kind == "prometheus" else "Loki")
        .type(kind)
        .current(VariableOption(selected=True, text=DATASOURCE_UIDS[kind], value=DATASOURCE_UIDS[kind]))
    )


def namespace_variable(metric: str) -> dashboard.QueryVariable:
    """The namespaces that export `metric`: several may be picked; every query filters on them."""
    return (
        dashboard.QueryVariable("namespace")
        .label("Namespace")
        .datasource(REFERENCES["prometheus"])
        .query(f"label_values({metric}, namespace)")
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .current(ALL)
    )


def thresholds(*steps: tuple[float | None, str]) -> dashboard.ThresholdsConfig:
    """Colour steps: (None, base colour) first, then (value, colour from that value on)."""
    return (
        dashboard.ThresholdsConfig()
        .mode(ThresholdsMode.ABSOLUTE)
        .steps([Threshold(value=value, color=color) for value, color in steps])
    )


# The other dashboards of the factory, as a drop-down at the top.
LINK = dashboard.DashboardLink("DHG dashboards").type(DashboardLinkType.DASHBOARDS).tags([TAG]).as_dropdown(True)


class Board:
    """One dashboard being built: rows and panels are laid out left to right, top to bottom, and numbered in order."""

    def __init__(self, uid: str, title: str, description: str, *, namespace_metric: str) -> None:
        self.uid = uid
        self.queries: list[Query] = []
        self._ids = itertools.count(1)
        self.builder = (
            dashboard.Dashboard(title)
            .uid(uid)
            .description(description)
            .tags([TAG])
            .readonly()  # generated: edit observability/dashboards, not the Grafana UI
            .timezone("browser")
            .time("now-6h", "now")
            .refresh("1m")
            .tooltip(DashboardCursorSync.CROSSHAIR)
            .link(LINK)
            .with_variable(datasource_variable("prometheus"))
            .with_variable(namespace_variable(namespace_metric))
        )

    def variable(self, variable: Any) -> Board:
        self.builder.with_variable(variable)
        return self

    def row(self, title: str) -> Board:
        self.builder.with_row(dashboard.Row(title).id(next(self._ids)))
        return self

    def _add(self, panel: Any, kind: Kind, title: str, description: str, unit: str, targets: tuple[Target, ...]) -> Any:
        panel.id(next(self._ids)).title(title).description(description).unit(unit).datasource(REFERENCES[kind])
        for ref_id, target in zip("ABCDEFGH", targets, strict=False):
            if kind == "prometheus":
                query: Any = prometheus.Dataquery().expr(target.expr).legend_format(target.legend or "__auto")
            else:
                query = loki.Dataquery().expr(target.expr)
                if target.legend:
                    query.legend_format(target.legend)
            panel.with_target(query.ref_id(ref_id).datasource(REFERENCES[kind]))
            self.queries.append(Query(self.uid, title, kind, target.expr, target.traffic))
        self.builder.with_panel(panel)
        return panel

    def graph(
        self,
        title: str,
        description: str,
        unit: str,
        *targets: Target,
        width: int = 12,
        kind: Kind = "prometheus",
        stacked: bool = False,
        limit: float | None = None,
    ) -> timeseries.Panel:
        """A time series panel; `limit` draws a red line at that value (an objective, a capacity)."""
        panel = (
            timeseries.Panel()
            .span(width)
            .height(8)
            .fill_opacity(10)
            .legend(
                common_builders.VizLegendOptions()
                .show_legend(True)
                .display_mode(common.LegendDisplayMode.LIST)
                .placement(common.LegendPlacement.BOTTOM)
            )
            .tooltip(
                common_builders.VizTooltipOptions()
                .mode(common.TooltipDisplayMode.MULTI)
                .sort(common.SortOrder.DESCENDING)
            )
        )
        if stacked:
            panel.stacking(common_builders.StackingConfig().mode(common.StackingMode.NORMAL))
        if limit is not None:
            panel.thresholds(thresholds((None, "green"), (limit, "red"))).thresholds_style(
                common_builders.GraphThresholdsStyleConfig().mode(common.GraphThresholdsStyleMode.DASHED)
            )
        result: timeseries.Panel = self._add(panel, kind, title, description, unit, targets)
        return result

    def stat(
        self,
        title: str,
        description: str,
        unit: str,
        *targets: Target,
        width: int = 6,
        steps: tuple[tuple[float | None, str], ...] = ((None, "green"),),
    ) -> stat.Panel:
        """A single number (the last value), coloured by `steps` (see `thresholds`)."""
        panel = (
            stat.Panel()
            .span(width)
            .height(4)
            .graph_mode(common.BigValueGraphMode.AREA)
            .color_mode(common.BigValueColorMode.VALUE)
            .reduce_options(common_builders.ReduceDataOptions().calcs(["lastNotNull"]))
            .thresholds(thresholds(*steps))
        )
        result: stat.Panel = self._add(panel, "prometheus", title, description, unit, targets)
        return result

    def logs(self, title: str, description: str, target: Target, *, height: int = 12) -> logs.Panel:
        """Log lines from Loki, newest first, with their fields one click away."""
        panel = (
            logs.Panel()
            .span(WIDTH)
            .height(height)
            .show_time(True)
            .wrap_log_message(True)
            .enable_log_details(True)
            .sort_order(common.LogsSortOrder.DESCENDING)
        )
        result: logs.Panel = self._add(panel, "loki", title, description, "none", (target,))
        return result

    def json(self) -> dict[str, Any]:
        """The dashboard's JSON model, as Grafana stores it."""
        document: dict[str, Any] = json.loads(json.dumps(self.builder.build(), cls=JSONEncoder))
        return document
