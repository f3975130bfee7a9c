"""Prometheus metrics of the operator, defined once (`dhg_controller_*`)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

JOBS_BY_PHASE = Gauge("dhg_controller_jobs", "TranscriptionJobs by phase and device.", ["phase", "device"])
JOBS_LAUNCHED = Counter(
    "dhg_controller_worker_jobs_launched_total", "Worker Jobs created, by placement.", ["placement"]
)
FALLBACKS = Counter("dhg_controller_gpu_fallbacks_total", "TranscriptionJobs moved from GPU to CPU.")
RECONCILE_SECONDS = Histogram(
    "dhg_controller_reconcile_seconds",
    "Time of one reconcile pass (observe, decide, act).",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
REGISTRY_ERRORS = Counter("dhg_controller_registry_errors_total", "Job records the Registry did not take (retried).")
RECONCILE_ERRORS = Counter("dhg_controller_reconcile_errors_total", "Reconcile passes that failed and were retried.")


def serve(port: int) -> None:
    """Expose /metrics on `port` (0: not at all, e.g. in tests that run several operators)."""
    if port:
        start_http_server(port)
