"""Prometheus metrics of the ASR service and worker, defined once."""

from __future__ import annotations

from typing import Literal, get_args

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter(
    "dhg_asr_http_requests_total", "HTTP requests by route template and status.", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "dhg_asr_http_request_duration_seconds",
    "HTTP request latency by route template.",
    ["method", "route"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)
# How a transcription ends: decoded; refused for its audio (not audio, empty, too long, too large); refused for
# the request (unknown model, a translation an English-only model cannot do); refused at once because the queue
# is full; cancelled; failed on our side. A fixed set: never an id.
Outcome = Literal["ok", "bad_audio", "invalid", "rejected", "cancelled", "error"]
OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)
TRANSCRIPTIONS = Counter(
    "dhg_asr_transcriptions_total",
    "Transcriptions ended, by engine, device and outcome (ok, bad_audio, invalid, rejected, cancelled, error).",
    ["engine", "device", "outcome"],
)
AUDIO_SECONDS = Counter("dhg_asr_audio_seconds_total", "Seconds of audio transcribed.", ["engine", "device"])
REAL_TIME_FACTOR = Histogram(
    "dhg_asr_real_time_factor",
    "Audio seconds per wall-clock second, per transcription.",
    ["engine", "device"],
    buckets=(0.5, 1, 2, 5, 10, 15, 20, 30, 50, 100, 200),
)
MODEL_LOAD_SECONDS = Histogram(
    "dhg_asr_model_load_seconds",
    "Time to load a model.",
    ["engine", "model", "device"],
    buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 120),
)
MODELS_LOADED = Gauge("dhg_asr_models_loaded", "Models in memory.", ["engine", "model", "device"])
DEVICE = Gauge("dhg_asr_device_info", "1 for the device the default model runs on.", ["device"])
DEVICE_FALLBACKS = Counter(
    "dhg_asr_device_fallbacks_total", "A GPU asked for (auto) but absent: fell back to CPU.", ["engine"]
)
QUEUE_DEPTH = Gauge("dhg_asr_queue_depth", "Transcriptions waiting for a decoder slot.")
QUEUE_CAPACITY = Gauge("dhg_asr_queue_capacity", "Transcriptions that may wait for a slot before more are refused.")
IN_PROGRESS = Gauge("dhg_asr_transcriptions_in_progress", "Transcriptions being decoded now.")
OUTBOX_DEPTH = Gauge("dhg_asr_outbox_depth", "Results on disk waiting for the Registry to accept them.")
DELIVERY_FAILURES = Counter("dhg_asr_delivery_failures_total", "Failed deliveries to the Registry, by kind.", ["kind"])
DELIVERIES = Counter("dhg_asr_deliveries_total", "Results the Registry accepted (created or replayed).", ["outcome"])
# Cross-request batching (asr/batching.py): how many 30 s windows each decode takes together, how long a window
# waited for its batch, and how long a batch took; by model and device.
BATCH_SIZE = Histogram(
    "dhg_asr_batch_size",
    "Windows (up to 30 s of audio each, from one or many requests) decoded together in one batch.",
    ["model", "device"],
    buckets=(1, 2, 3, 4, 6, 8, 12, 16, 24, 32),
)
BATCH_WAIT = Histogram(
    "dhg_asr_batch_wait_seconds",
    "Time a window waited between being submitted and its batch starting.",
    ["model", "device"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
BATCH_SECONDS = Histogram(
    "dhg_asr_batch_seconds",
    "Time to decode one batch of windows.",
    ["model", "device"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 60),
)
# Live sessions (asr/realtime): how many are open, the audio they took, and the two latencies a listener feels: from
# the start of a turn to its first words, and from the end of a turn to its completed transcript.
REALTIME_SESSIONS = Gauge("dhg_asr_realtime_sessions", "Live transcription sessions open now.")
REALTIME_SESSIONS_ENDED = Counter(
    "dhg_asr_realtime_sessions_ended_total",
    "Live sessions ended, by reason (client, expired, idle, slow_client, refused, error).",
    ["reason"],
)
REALTIME_AUDIO_SECONDS = Counter("dhg_asr_realtime_audio_seconds_total", "Seconds of audio live sessions sent.")
REALTIME_FIRST_DELTA = Histogram(
    "dhg_asr_realtime_first_delta_seconds",
    "From the start of a turn being heard to its first transcript delta.",
    buckets=(0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10),
)
REALTIME_COMPLETED = Histogram(
    "dhg_asr_realtime_completed_seconds",
    "From the end of a turn (speech stopped, or committed) to its completed transcript.",
    buckets=(0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10),
)
REALTIME_END_REASONS = ("client", "expired", "idle", "slow_client", "refused", "error")
JOBS = Gauge("dhg_asr_jobs", "Async transcription jobs held by this process, by status.", ["status"])

# Outcomes known in advance start at zero, so that rates and ratios over them exist before the first one happens.
for _kind in ("transient", "refused", "rejected", "outbox"):
    DELIVERY_FAILURES.labels(_kind)
for _outcome in ("created", "replayed"):
    DELIVERIES.labels(_outcome)
for _reason in REALTIME_END_REASONS:
    REALTIME_SESSIONS_ENDED.labels(_reason)
