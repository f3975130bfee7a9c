"""The rule groups of each component: registry, asr, controller, postgresql (the SLO's group is in slo.py)."""

from __future__ import annotations

from asr import metrics as asr
from controller import metrics as controller
from observability import http, names
from observability.rulekit import Rule, alert
from registry import metrics as registry

LIVE_COMPLETED_P95_SECONDS = 2  # a live turn's text, after its speech stopped (bench/asr/live.py: the target is 1 s)
REJECTED = "rejected"  # the ASR's outcome of a transcription refused because its queue is full (HTTP 429)
assert REJECTED in asr.OUTCOMES
FAILURE = "failure"  # the outcome of a failed webhook delivery attempt (registry/webhooks/dispatcher.py)
FAILED = "Failed"  # a TranscriptionJob's phase when it ended in failure
WAITING_PHASES = "Pending|Scheduling"  # a TranscriptionJob with no worker running yet


def _not_draining(gauge: str, above: int, aggregation: str = "sum") -> str:
    """A backlog gauge above `above` that has not shrunk over the last 30 minutes (a stuck one is flat; the
    embedding backlog is counted only up to 10000, so "growing" cannot mean a rising slope)."""
    return f"""
        {aggregation} by (namespace) ({gauge}) > {above}
        and on (namespace)
        {aggregation} by (namespace) (deriv({gauge}[30m])) >= 0
        """


def registry_rules() -> list[Rule]:
    database_up, backlog = names.exposed(registry.DATABASE_UP), names.exposed(registry.EMBEDDING_BACKLOG)
    attempts = names.exposed(registry.WEBHOOK_ATTEMPTS)
    return [
        *http.recording_rules(http.REGISTRY),
        *http.alerts(http.REGISTRY),
        alert(
            "DHGRegistryNotReady",
            f"min by (namespace) ({database_up}) == 0",
            duration="5m",
            severity="critical",
            summary="The Registry cannot reach its database.",
            description="""A Registry pod in namespace {{ $labels.namespace }} has failed to query PostgreSQL for 5
                minutes: it is not ready, and uploads, transcripts, jobs and searches fail.""",
        ),
        alert(
            "DHGRegistryWebhookDeliveriesFailing",
            f"""
            sum by (namespace) (rate({attempts}{{outcome="{FAILURE}"}}[15m]))
              /
            sum by (namespace) (rate({attempts}[15m]))
              > 0.25
            and on (namespace)
            sum by (namespace) (increase({attempts}[15m])) >= 5
            """,
            duration="15m",
            severity="warning",
            summary="Webhook deliveries are failing.",
            description="""{{ $value | humanizePercentage }} of the webhook delivery attempts of the Registry in
                namespace {{ $labels.namespace }} failed over the last 15 minutes.""",
        ),
        alert(
            "DHGRegistryEmbeddingBacklogGrowing",
            _not_draining(backlog, 1000, aggregation="max"),  # the Registry and the embedding worker both count it
            duration="30m",
            severity="warning",
            summary="Segments wait for their embeddings and the backlog does not shrink.",
            description="""{{ $value | printf "%.0f" }} transcript segments in namespace {{ $labels.namespace }}
                wait for an embedding, and the backlog has not shrunk for 30 minutes: semantic search misses
                them.""",
        ),
    ]


def asr_rules() -> list[Rule]:
    depth, capacity = names.exposed(asr.QUEUE_DEPTH), names.exposed(asr.QUEUE_CAPACITY)
    transcriptions, outbox = names.exposed(asr.TRANSCRIPTIONS), names.exposed(asr.OUTBOX_DEPTH)
    fallbacks = names.exposed(asr.DEVICE_FALLBACKS)
    return [
        *http.recording_rules(http.ASR),
        *http.alerts(http.ASR),
        alert(
            "DHGASRQueueSaturated",
            f"""
            sum by (namespace) ({depth})
              /
            sum by (namespace) ({capacity}) >= 0.8
            """,
            duration="10m",
            severity="warning",
            summary="The ASR service's transcription queue is nearly full.",
            description="""The ASR service in namespace {{ $labels.namespace }} has had its waiting queue
                {{ $value | humanizePercentage }} full for 10 minutes; beyond it transcriptions are refused
                (429).""",
        ),
        alert(
            "DHGASRRejectingTranscriptions",
            f"""
            sum by (namespace) (rate({transcriptions}{{outcome="{REJECTED}"}}[10m]))
              /
            sum by (namespace) (rate({transcriptions}[10m]))
              > 0.05
            and on (namespace)
            sum by (namespace) (increase({transcriptions}[10m])) >= 10
            """,
            duration="10m",
            severity="warning",
            summary="The ASR service refuses transcriptions: its queue is full.",
            description="""{{ $value | humanizePercentage }} of the transcriptions sent to the ASR service in
                namespace {{ $labels.namespace }} over the last 10 minutes were refused with 429 (queue full).""",
        ),
        alert(
            "DHGASROutboxBacklog",
            _not_draining(outbox, 0),
            duration="15m",
            severity="warning",
            summary="ASR results wait in the outbox: the Registry does not take them.",
            description="""{{ $value | printf "%.0f" }} transcription results of the ASR service in namespace
                {{ $labels.namespace }} wait on disk for the Registry, and the outbox has not shrunk for 30
                minutes.""",
        ),
        alert(
            "DHGASRLiveLatencyHigh",
            f"""
            histogram_quantile(0.95, sum by (namespace, le) (rate({names.bucket(asr.REALTIME_COMPLETED)}[10m])))
              > {LIVE_COMPLETED_P95_SECONDS}
            and on (namespace)
            sum by (namespace) (increase({names.count(asr.REALTIME_COMPLETED)}[10m])) >= 20
            """,
            duration="10m",
            severity="warning",
            summary="Live transcripts come late: a turn's text takes long after the speaker stops.",
            description="""In namespace {{ $labels.namespace }}, 5% of live turns over the last 10 minutes got their
                completed transcript more than {{ $value | humanizeDuration }} after the speech stopped (the target
                is a second).""",
        ),
        alert(
            "DHGASRDeviceFallback",
            f"sum by (namespace, engine) (increase({fallbacks}[1h])) > 0",
            severity="info",
            summary="The ASR service runs on CPU: it asked for a GPU (auto) and found none.",
            description="""The ASR service in namespace {{ $labels.namespace }} ({{ $labels.engine }}) fell back
                to CPU {{ $value | printf "%.0f" }} times in the last hour: no CUDA device.""",
        ),
    ]


def controller_rules() -> list[Rule]:
    finished, jobs = names.exposed(controller.JOBS_FINISHED), names.exposed(controller.JOBS_BY_PHASE)
    started = names.count(controller.QUEUE_WAIT_SECONDS)  # one observation per worker that began
    fallbacks = names.exposed(controller.FALLBACKS)
    errors, passes = names.exposed(controller.RECONCILE_ERRORS), names.count(controller.RECONCILE_SECONDS)
    registry_errors = names.exposed(controller.REGISTRY_ERRORS)
    return [
        alert(
            "DHGControllerDown",
            f'max by (namespace) (up{{job="{names.CONTROLLER_JOB}"}}) == 0',
            duration="10m",
            severity="critical",
            summary="The TranscriptionJob controller is down.",
            description="""No controller target in namespace {{ $labels.namespace }} has answered Prometheus'
                scrapes for 10 minutes: TranscriptionJobs are not scheduled, retried or finished.""",
        ),
        alert(
            "DHGTranscriptionJobsFailing",
            f"""
            sum by (namespace) (rate({finished}{{phase="{FAILED}"}}[30m]))
              /
            sum by (namespace) (rate({finished}[30m]))
              > 0.1
            and on (namespace)
            sum by (namespace) (increase({finished}[30m])) >= 5
            """,
            duration="15m",
            severity="warning",
            summary="Many TranscriptionJobs fail.",
            description="""{{ $value | humanizePercentage }} of the TranscriptionJobs the controller in namespace
                {{ $labels.namespace }} finished over the last 30 minutes failed.""",
        ),
        alert(
            "DHGTranscriptionJobsStuck",
            f"""
            max by (namespace, phase) ({jobs}{{phase=~"{WAITING_PHASES}"}}) > 0
            unless on (namespace)
            sum by (namespace) (increase({started}[15m])) > 0
            """,
            duration="15m",
            severity="warning",
            summary="TranscriptionJobs wait and none starts.",
            description="""{{ $value | printf "%.0f" }} TranscriptionJobs seen by the controller in namespace
                {{ $labels.namespace }} are {{ $labels.phase }}, and no worker has started for 30 minutes.""",
        ),
        alert(
            "DHGGPUFallbacksRising",
            f"sum by (namespace) (increase({fallbacks}[1h])) > 3",
            duration="5m",
            severity="warning",
            summary="TranscriptionJobs fall back from GPU to CPU.",
            description="""The controller in namespace {{ $labels.namespace }} moved
                {{ $value | printf "%.0f" }} TranscriptionJobs from GPU to CPU in the last hour: no GPU node had
                room for them.""",
        ),
        alert(
            "DHGControllerReconcileErrors",
            f"""
            sum by (namespace) (rate({errors}[15m]))
              /
            sum by (namespace) (rate({passes}[15m]))
              > 0.1
            """,
            duration="15m",
            severity="warning",
            summary="The controller's reconcile passes fail.",
            description="""{{ $value | humanizePercentage }} of the controller's reconcile passes in namespace
                {{ $labels.namespace }} failed (and were retried) over the last 15 minutes.""",
        ),
        alert(
            "DHGControllerRegistryErrors",
            f"sum by (namespace) (rate({registry_errors}[10m])) > 0",
            duration="15m",
            severity="warning",
            summary="The Registry refuses the controller's job records.",
            description="""The controller in namespace {{ $labels.namespace }} has failed to write job records to
                the Registry for 15 minutes (it retries); jobs and transcripts there are out of date.""",
        ),
    ]


def postgresql_rules() -> list[Rule]:
    return [
        alert(
            "DHGPostgresDown",
            f"min by (namespace) ({names.PG_UP}) == 0",
            duration="5m",
            severity="critical",
            summary="PostgreSQL does not answer its exporter.",
            description="""postgres_exporter in namespace {{ $labels.namespace }} has not reached PostgreSQL for 5
                minutes.""",
        ),
        alert(
            "DHGPostgresConnectionsNearLimit",
            f"""
            sum by (namespace) ({names.PG_CONNECTIONS})
              /
            max by (namespace) ({names.PG_MAX_CONNECTIONS})
              > 0.8
            """,
            duration="10m",
            severity="warning",
            summary="PostgreSQL's connections are near max_connections.",
            description="""PostgreSQL in namespace {{ $labels.namespace }} uses
                {{ $value | humanizePercentage }} of its max_connections.""",
        ),
    ]
