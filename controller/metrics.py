"""Prometheus metrics of the operator, defined once (`dhg_controller_*`)."""

from __future__ import annotations

import collections

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


class Census:
    """TranscriptionJobs by (phase, device) as this replica last saw them, published as JOBS_BY_PHASE (a pair whose
    count drops to zero stays, at 0, rather than vanishing from the dashboards)."""

    def __init__(self) -> None:
        self.jobs: dict[str, tuple[str, str]] = {}
        self.published: set[tuple[str, str]] = set()

    def observe(self, uid: str, phase: str | None, device: str | None) -> None:
        if phase and self.jobs.get(uid) != (phase, device or "none"):  # most passes change nothing
            self.jobs[uid] = (phase, device or "none")
            self._publish()

    def forget(self, uid: str) -> None:
        if self.jobs.pop(uid, None) is not None:
            self._publish()

    def _publish(self) -> None:
        counts = collections.Counter(self.jobs.values())
        self.published |= set(counts)
        for phase, device in self.published:
            JOBS_BY_PHASE.labels(phase, device).set(counts.get((phase, device), 0))


def serve(port: int) -> None:
    """Expose /metrics on `port` (0: not at all, e.g. in tests that run several operators)."""
    if port:
        start_http_server(port)


# What the workers' summaries and the jobs' ends say (workers are short-lived pods: the controller exports for them).
# Labels stay bounded: devices are gpu|cpu, models the ones the workers serve (anything else is "other").
AUDIO_SECONDS = Counter(
    "dhg_controller_audio_seconds_total", "Seconds of audio transcribed by workers.", ["device", "model"]
)
PROCESSING_SECONDS = Histogram(
    "dhg_controller_processing_seconds",
    "Workers' transcription time per job.",
    ["device", "model"],
    buckets=(1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 3600),
)
REAL_TIME_FACTOR = Histogram(
    "dhg_controller_real_time_factor",
    "Audio seconds per processing second, per finished job.",
    ["device", "model"],
    buckets=(0.5, 1, 2, 4, 8, 16, 32, 64, 128),
)
QUEUE_WAIT_SECONDS = Histogram(
    "dhg_controller_queue_wait_seconds",
    "From a TranscriptionJob's creation until its worker runs.",
    ["device"],
    buckets=(1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
)
RETRIES = Counter("dhg_controller_retries_total", "Attempts retried after a failure, by its kind.", ["reason"])
JOBS_FINISHED = Counter(
    "dhg_controller_jobs_finished_total", "TranscriptionJobs that ended, by phase and reason.", ["phase", "reason"]
)
ATTEMPTS = Histogram(
    "dhg_controller_job_attempts", "Workers launched per finished TranscriptionJob.", buckets=(1, 2, 3, 4, 6, 10)
)
