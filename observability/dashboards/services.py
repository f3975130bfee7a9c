"""One RED dashboard per service (rate, errors, duration): the Registry's and the ASR service's from their HTTP
metrics and the availability SLO's recording rules, the controller's from its reconcile passes."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from asr import metrics as asr
from controller import metrics as controller
from observability import names
from observability.dashboards.board import UP, Board, Target
from observability.dashboards.exprs import error_ratio, increase, quantile, rate, selector, summed
from observability.slo import BUDGET
from registry import metrics as registry

# The availability SLO the rules record (99.9% of requests without a 5xx over 30 days): the dashboards draw it.
ERROR_BUDGET = BUDGET
SLO_PERIOD = "30d"
BURN_WINDOWS = ("5m", "1h", "6h", "1d", "3d")  # the short and long windows of the page and ticket alerts
WITHIN_SLO = ((None, "green"), (ERROR_BUDGET, "red"))


def _slo_ratio(base: str, window: str) -> str:
    """The SLO's 5xx ratio over `window` (recording rule; 0 where requests were served and none failed)."""
    return selector(f"namespace_job:{base}_errors:ratio_rate{window}")


def _http_rows(board: Board, service: str, job: str, counter: Counter, histogram: Histogram) -> None:
    """Up, rate, errors and duration of one HTTP service, from its request counter and latency histogram."""
    requests, latency = names.exposed(counter), names.exposed(histogram)
    base = requests.removesuffix("_total")  # the recording rules are named after the counter without `_total`
    rate5m = selector(f"namespace_job:{base}:rate5m")
    ratio5m = selector(f"namespace_job:{base}_errors:ratio_rate5m")
    board.row("Is it up?")
    board.stat(
        "Pods up",
        f"{service} pods Prometheus scraped successfully.",
        "short",
        Target(summed("namespace", selector("up", f'job="{job}"')), "{{namespace}}"),
        steps=UP,
    )
    board.stat(
        "Requests per second",
        "All requests, over the last 5 minutes (recording rule).",
        "reqps",
        Target(summed("namespace", rate5m), "{{namespace}}"),
    )
    board.stat(
        "5xx ratio (5m)",
        "API requests answered 5xx over all API requests, last 5 minutes (SLO recording rule); red above the SLO's "
        f"{ERROR_BUDGET:.1%} error budget.",
        "percentunit",
        Target(f"max by (namespace) ({_slo_ratio(base, '5m')})", "{{namespace}}"),
        steps=WITHIN_SLO,
    )
    board.stat(
        f"Error budget left ({SLO_PERIOD})",
        f"Share of the {SLO_PERIOD} error budget ({ERROR_BUDGET:.1%} of API requests may fail) not yet spent: 1 minus "
        "the average 5-minute 5xx ratio over the period (0 where none was recorded yet), divided by the budget. "
        "Below 0: the SLO is missed.",
        "percentunit",
        Target(
            f"1 - max by (namespace) (avg_over_time({ratio5m}[{SLO_PERIOD}])) / {ERROR_BUDGET}",
            "{{namespace}}",
        ),
        steps=((None, "red"), (0, "orange"), (0.25, "green")),
    )
    board.row("Are requests failing?")
    board.graph(
        "Requests by route and status",
        "Requests per second by method, route template and status code.",
        "reqps",
        Target(summed("method, route, status", rate(requests)), "{{method}} {{route}} {{status}}"),
    )
    board.graph(
        "5xx ratio",
        f"Responses with a 5xx status over all responses; the dashed line is the SLO's {ERROR_BUDGET:.1%}.",
        "percentunit",
        Target(error_ratio(requests), "{{namespace}}"),
        limit=ERROR_BUDGET,
    )
    board.graph(
        "SLO error ratio by window",
        "The 5xx ratio over each burn-rate alert window (recording rules): the pages fire when both the 1h and 5m "
        "ratios exceed 14.4x the budget, or the 6h and 30m ones 6x; tickets at 3x (1d, 2h) and 1x (3d, 6h).",
        "percentunit",
        *(Target(f"max by (namespace) ({_slo_ratio(base, w)})", f"{{{{namespace}}}} {w}") for w in BURN_WINDOWS),
        width=24,
        limit=ERROR_BUDGET,
    )
    board.row("Is it fast?")
    p95 = f"namespace_route:{latency}:p95_5m"
    board.graph(
        "Duration p50 by route",
        "Median request duration by route template.",
        "s",
        Target(quantile(0.5, histogram, "route"), "{{route}}"),
        width=8,
    )
    board.graph(
        "Duration p95 by route",
        "95th percentile of request duration by route template, over 5 minutes (recording rule).",
        "s",
        Target(summed("route", selector(p95)), "{{route}}"),
        width=8,
    )
    board.graph(
        "Duration p99 by route",
        "99th percentile of request duration by route template.",
        "s",
        Target(quantile(0.99, histogram, "route"), "{{route}}"),
        width=8,
    )


def registry_red() -> Board:
    board = Board(
        "dhg-registry",
        "DHG AI Factory / Registry",
        "The Registry's requests: rate, errors against the availability SLO, duration by route.",
        namespace_metric=names.exposed(registry.HTTP_REQUESTS),
    )
    _http_rows(board, "Registry", names.REGISTRY_JOB, registry.HTTP_REQUESTS, registry.HTTP_LATENCY)
    board.row("Is it keeping up?")
    board.graph(
        "Requests in flight",
        "Requests being handled now, over every server process.",
        "short",
        Target(summed("namespace", selector(names.exposed(registry.HTTP_IN_FLIGHT))), "{{namespace}}"),
    )
    board.stat(
        "Database reachable",
        "1 when the Registry's last round of stored-total queries reached the database, 0 when it failed.",
        "bool_yes_no",
        Target(f"min by (namespace) ({selector(names.exposed(registry.DATABASE_UP))})", "{{namespace}}"),
        width=12,
        steps=UP,
    )
    return board


def asr_red() -> Board:
    board = Board(
        "dhg-asr-service",
        "DHG AI Factory / ASR service",
        "The ASR service's requests (rate, errors against the availability SLO, duration by route), transcriptions, "
        "its queue and its outbox.",
        namespace_metric=names.exposed(asr.HTTP_REQUESTS),
    )
    _http_rows(board, "ASR service", names.ASR_JOB, asr.HTTP_REQUESTS, asr.HTTP_LATENCY)
    board.graph(
        "Real-time factor (p50/p10) by engine and device",
        "Audio seconds per wall-clock second per transcription (higher is faster): the median and the slowest tenth.",
        "suffix:x",
        Target(quantile(0.5, asr.REAL_TIME_FACTOR, "engine, device"), "p50 {{engine}} {{device}}"),
        Target(quantile(0.1, asr.REAL_TIME_FACTOR, "engine, device"), "p10 {{engine}} {{device}}"),
    )
    board.graph(
        "Model load time",
        "Mean time to load a model, by engine, model and device (since the service started).",
        "s",
        Target(
            f"sum by (engine, model, device) ({selector(names.total(asr.MODEL_LOAD_SECONDS))}) / "
            f"sum by (engine, model, device) ({selector(names.count(asr.MODEL_LOAD_SECONDS))})",
            "{{engine}} {{model}} {{device}}",
        ),
    )
    board.row("Is it keeping up?")
    board.graph(
        "Transcriptions by outcome",
        "Transcriptions ended per second, by outcome: rejected means the queue was full (429).",
        "ops",
        Target(summed("outcome", rate(names.exposed(asr.TRANSCRIPTIONS))), "{{outcome}}"),
    )
    board.graph(
        "Queue depth vs capacity",
        "Transcriptions waiting for a decoder slot and being decoded, against how many may wait.",
        "short",
        Target(summed("namespace", selector(names.exposed(asr.QUEUE_DEPTH))), "waiting {{namespace}}"),
        Target(summed("namespace", selector(names.exposed(asr.IN_PROGRESS))), "decoding {{namespace}}"),
        Target(summed("namespace", selector(names.exposed(asr.QUEUE_CAPACITY))), "capacity {{namespace}}"),
    )
    board.graph(
        "Batch size (mean, p95) by model",
        "Windows (up to 30 s of audio each, from one request or many) decoded together per batch: above 1, callers "
        "share the model's decoder (asr/batching.py).",
        "short",
        Target(
            f"{summed('model, device', rate(names.total(asr.BATCH_SIZE)))} / "
            f"{summed('model, device', rate(names.count(asr.BATCH_SIZE)))}",
            "mean {{model}} {{device}}",
        ),
        Target(quantile(0.95, asr.BATCH_SIZE, "model, device"), "p95 {{model}} {{device}}"),
    )
    board.graph(
        "Batch wait (p50, p95) by model",
        "How long a window waited between being queued and its batch starting (DHG_ASR_BATCH_WAIT_MS bounds the wait "
        "to fill a batch; more means the decoder is busy).",
        "s",
        Target(quantile(0.5, asr.BATCH_WAIT, "model, device"), "p50 {{model}} {{device}}"),
        Target(quantile(0.95, asr.BATCH_WAIT, "model, device"), "p95 {{model}} {{device}}"),
    )
    board.graph(
        "Outbox depth",
        "Finished transcriptions on disk waiting for the Registry to accept them.",
        "short",
        Target(summed("namespace", selector(names.exposed(asr.OUTBOX_DEPTH))), "{{namespace}}"),
    )
    board.graph(
        "Deliveries to the Registry",
        "Results the Registry accepted (created or replayed) and deliveries that failed, by kind, in each interval.",
        "short",
        Target(increase(names.exposed(asr.DELIVERIES), "outcome"), "{{outcome}}"),
        Target(increase(names.exposed(asr.DELIVERY_FAILURES), "kind"), "failed: {{kind}}", traffic=False),
    )
    board.row("Are live words on time?")
    board.graph(
        "Live sessions and their audio",
        "Live transcription sessions open (/v1/realtime), and the seconds of audio they send per second (1 per "
        "session speaking in real time).",
        "short",
        Target(summed("namespace", selector(names.exposed(asr.REALTIME_SESSIONS))), "open {{namespace}}"),
        Target(summed("namespace", rate(names.exposed(asr.REALTIME_AUDIO_SECONDS))), "audio s/s {{namespace}}"),
    )
    board.graph(
        "Live latency (p50, p95)",
        "From a turn's start to its first words (first delta), and from the end of its speech to its completed "
        "transcript: what someone watching the words feels (the alert: completed p95 over 2 s).",
        "s",
        Target(quantile(0.5, asr.REALTIME_FIRST_DELTA, "namespace"), "first words p50", traffic=False),
        Target(quantile(0.95, asr.REALTIME_FIRST_DELTA, "namespace"), "first words p95", traffic=False),
        Target(quantile(0.5, asr.REALTIME_COMPLETED, "namespace"), "completed p50", traffic=False),
        Target(quantile(0.95, asr.REALTIME_COMPLETED, "namespace"), "completed p95", traffic=False),
    )
    board.graph(
        "Live sessions ended, by reason",
        "Why sessions ended, in each interval: client (it closed), expired, idle, slow_client (it stopped reading), "
        "refused (no place, or a bad key), error.",
        "short",
        Target(increase(names.exposed(asr.REALTIME_SESSIONS_ENDED), "reason"), "{{reason}}", traffic=False),
    )
    return board


def controller_red() -> Board:
    reconciles = names.count(controller.RECONCILE_SECONDS)
    board = Board(
        "dhg-controller",
        "DHG AI Factory / Controller",
        "The controller's reconcile passes (rate, errors, duration), the Registry's refusals and the workers it "
        "launches.",
        namespace_metric=names.exposed(controller.JOBS_BY_PHASE),
    )
    board.row("Is it up?")
    board.stat(
        "Pods up",
        "Controller pods Prometheus scraped successfully (one acts at a time when peering is on).",
        "short",
        Target(summed("namespace", selector("up", f'job="{names.CONTROLLER_JOB}"')), "{{namespace}}"),
        width=8,
        steps=UP,
    )
    board.graph(
        "Reconcile passes and errors",
        "Reconcile passes per second, and those that failed and were retried.",
        "ops",
        Target(summed("namespace", rate(reconciles)), "passes {{namespace}}"),
        Target(summed("namespace", rate(names.exposed(controller.RECONCILE_ERRORS))), "errors {{namespace}}"),
        width=8,
    )
    board.graph(
        "Registry errors",
        "Job records the Registry did not take, per second (the controller retries them).",
        "ops",
        Target(summed("namespace", rate(names.exposed(controller.REGISTRY_ERRORS))), "{{namespace}}"),
        width=8,
    )
    board.row("Is it fast?")
    board.graph(
        "Reconcile duration p50/p95/p99",
        "Time of one reconcile pass (observe, decide, act).",
        "s",
        *(Target(quantile(q, controller.RECONCILE_SECONDS, ""), f"p{round(q * 100)}") for q in (0.5, 0.95, 0.99)),
    )
    board.graph(
        "Queue wait (p95) by device",
        "From a TranscriptionJob's creation until its worker runs, 95th percentile, by device.",
        "s",
        Target(quantile(0.95, controller.QUEUE_WAIT_SECONDS, "device"), "{{device}}"),
    )
    board.row("Is it keeping up?")
    board.graph(
        "Workers launched by placement",
        "Worker Jobs created in each interval, by placement (gpu, cpu).",
        "short",
        Target(increase(names.exposed(controller.JOBS_LAUNCHED), "placement"), "{{placement}}"),
        width=8,
    )
    board.graph(
        "TranscriptionJobs by phase",
        "TranscriptionJobs the controller sees now, by phase.",
        "short",
        Target(summed("phase", selector(names.exposed(controller.JOBS_BY_PHASE))), "{{phase}}"),
        width=8,
    )
    board.graph(
        "Attempts per finished job (p95)",
        "Workers launched per TranscriptionJob that ended, 95th percentile: above 1 means retries or fallbacks.",
        "short",
        Target(quantile(0.95, controller.ATTEMPTS, ""), "p95"),
        width=8,
    )
    return board
