"""The services' logs in Loki, filtered by namespace, service, level and job id. The log pipeline makes only
`namespace`, `service` and `level` stream labels; `job` and `request_id` stay fields of the JSON line (and structured
metadata), so the job filter parses the line rather than selecting a stream."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard
from grafana_foundation_sdk.models.dashboard import VariableRefresh, VariableSort

from observability import names
from observability.dashboards.board import ALL, REFERENCES, Board, Target, datasource_variable

UID = "dhg-logs"
JOBS = (names.REGISTRY_JOB, names.EMBEDDINGS_JOB, names.ASR_JOB, names.CONTROLLER_JOB, names.POSTGRESQL_JOB)
LEVELS = ("debug", "info", "warning", "error")
# "All" as a regular expression Loki accepts in a stream selector (one that cannot match the empty string).
ANY = ".+"
STREAM = '{namespace=~"$namespace", service=~"$service", level=~"$level"}'
JOB_FILTER = '| json | job=~"$job_id.*"'
# In metric queries a line that is not JSON would fail the whole query: leave it out.
PARSED = '| json | __error__="" | job=~"$job_id.*"'
PROBLEMS = '{namespace=~"$namespace", service=~"$service", level=~"warning|error|critical"}'
LINES_PER_SECOND = "suffix: lines/s"


def _variables(board: Board) -> None:
    board.variable(datasource_variable("loki"))
    board.variable(
        dashboard.QueryVariable("service")
        .label("Service")
        .datasource(REFERENCES["loki"])
        # Loki's label-values query, as Grafana 11's variable editor writes it (type 1: label values).
        .query({"type": 1, "label": "service", "stream": '{namespace=~"$namespace"}', "refId": "service"})
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(ANY)
    )
    board.variable(
        dashboard.CustomVariable("level")
        .label("Level")
        .values(",".join(LEVELS))
        .multi(True)
        .include_all(True)
        .all_value(ANY)
        .current(ALL)
    )
    board.variable(
        dashboard.TextBoxVariable("job_id")
        .label("Job id")
        .description("A TranscriptionJob's id, or its beginning; empty: every line.")
        .default_value("")
    )


def logs() -> Board:
    board = Board(
        UID,
        "DHG AI Factory / Logs",
        "The services' JSON log lines in Loki, by namespace, service, level and job id.",
        namespace_metric=f'up{{job=~"{"|".join(JOBS)}"}}',
    )
    _variables(board)
    board.row("How much is logged?")
    board.graph(
        "Log lines by level",
        "Log lines per second matching the filters, by level.",
        LINES_PER_SECOND,
        Target(f"sum by (level) (rate({STREAM} {PARSED} [$__interval]))", "{{level}}"),
        kind="loki",
    )
    board.graph(
        "Warnings and errors by service",
        "Lines at warning level or above per second, by service (the level filter does not apply).",
        LINES_PER_SECOND,
        Target(f"sum by (service) (rate({PROBLEMS} {PARSED} [$__interval]))", "{{service}}", traffic=False),
        kind="loki",
    )
    board.row("Lines")
    board.logs(
        "Log lines",
        "The lines matching every filter, newest first; open one for its fields (job, request_id, logger...).",
        Target(f"{STREAM} {JOB_FILTER}"),
        height=14,
    )
    board.logs(
        "Warnings and errors",
        "Lines at warning level or above of the chosen services and job, newest first.",
        Target(f"{PROBLEMS} {JOB_FILTER}", traffic=False),
        height=10,
    )
    return board
