"""The factory at a glance: which components answer, where TranscriptionJobs are, how much audio goes through, how
fast, and what fails."""

from __future__ import annotations

from asr import metrics as asr
from controller import metrics as controller
from observability import names
from observability.dashboards.board import Board, Target
from observability.dashboards.exprs import increase, quantile, rate, selector, summed

UID = "dhg-overview"
JOBS = (names.REGISTRY_JOB, names.EMBEDDINGS_JOB, names.ASR_JOB, names.CONTROLLER_JOB, names.POSTGRESQL_JOB)
ANY_JOB = f'job=~"{"|".join(JOBS)}"'
HOURS_PER_HOUR = "suffix: h/h"  # audio seconds per second: audio hours transcribed per wall-clock hour
TIMES_REAL_TIME = "suffix:x"


def overview() -> Board:
    board = Board(
        UID,
        "DHG AI Factory / Overview",
        "Jobs, audio throughput, speed and failures across the Registry, the ASR service, the controller and workers.",
        namespace_metric=f"up{{{ANY_JOB}}}",
    )
    _is_it_up(board)
    _is_it_keeping_up(board)
    _is_it_fast(board)
    _what_fails(board)
    return board


def _is_it_up(board: Board) -> None:
    board.row("Is it up?")
    board.stat(
        "Targets up by component",
        "Scrape targets that answered, by component (the `job` label): 0 means Prometheus cannot reach it.",
        "short",
        Target(summed("job", selector("up", ANY_JOB)), "{{job}}"),
        width=8,
        steps=((None, "red"), (1, "green")),
    )
    board.graph(
        "TranscriptionJobs by phase and device",
        "TranscriptionJobs the controller sees now, by phase and by the device they run (or ran) on.",
        "short",
        Target(summed("phase, device", selector(names.exposed(controller.JOBS_BY_PHASE))), "{{phase}} {{device}}"),
        width=16,
    )


def _is_it_keeping_up(board: Board) -> None:
    board.row("Is it keeping up?")
    board.graph(
        "Audio hours per hour",
        "Audio transcribed per wall-clock time (1 h/h: an hour of audio every hour): by the controller's workers "
        "(device, model) and by the ASR service (engine, device).",
        HOURS_PER_HOUR,
        Target(summed("device, model", rate(names.exposed(controller.AUDIO_SECONDS))), "workers {{device}} {{model}}"),
        Target(summed("engine, device", rate(names.exposed(asr.AUDIO_SECONDS))), "ASR service {{engine}} {{device}}"),
    )
    board.graph(
        "Queue wait (p95) by device",
        "From a TranscriptionJob's creation until its worker runs, 95th percentile, by device: long waits mean "
        "too few nodes of that kind.",
        "s",
        Target(quantile(0.95, controller.QUEUE_WAIT_SECONDS, "device"), "{{device}}"),
    )
    board.graph(
        "ASR queue depth vs capacity",
        "Transcriptions waiting for a decoder slot and being decoded, against how many may wait: beyond capacity "
        "the ASR service answers 429.",
        "short",
        Target(summed("namespace", selector(names.exposed(asr.QUEUE_DEPTH))), "waiting {{namespace}}"),
        Target(summed("namespace", selector(names.exposed(asr.IN_PROGRESS))), "decoding {{namespace}}"),
        Target(summed("namespace", selector(names.exposed(asr.QUEUE_CAPACITY))), "capacity {{namespace}}"),
    )
    board.graph(
        "ASR outbox depth",
        "Finished transcriptions kept on the ASR service's disk until the Registry accepts them: growth means the "
        "Registry refuses or cannot be reached.",
        "short",
        Target(summed("namespace", selector(names.exposed(asr.OUTBOX_DEPTH))), "{{namespace}}"),
    )


def _is_it_fast(board: Board) -> None:
    board.row("Is it fast?")
    board.graph(
        "Real-time factor (p50) by device and model",
        "Audio seconds per processing second, median per finished transcription (higher is faster): workers by "
        "device and model, the ASR service by engine and device.",
        TIMES_REAL_TIME,
        Target(quantile(0.5, controller.REAL_TIME_FACTOR, "device, model"), "workers {{device}} {{model}}"),
        Target(quantile(0.5, asr.REAL_TIME_FACTOR, "engine, device"), "ASR service {{engine}} {{device}}"),
    )
    board.graph(
        "Worker processing time (p95) by device and model",
        "Workers' transcription time per TranscriptionJob, 95th percentile.",
        "s",
        Target(quantile(0.95, controller.PROCESSING_SECONDS, "device, model"), "{{device}} {{model}}"),
    )


def _what_fails(board: Board) -> None:
    board.row("What fails?")
    board.graph(
        "Failures by reason",
        "TranscriptionJobs that ended Failed in each interval, by the reason of their Failed condition.",
        "short",
        Target(increase(names.exposed(controller.JOBS_FINISHED), "reason", 'phase="Failed"'), "{{reason}}"),
        width=8,
    )
    board.graph(
        "Retries by reason",
        "Worker attempts retried after a failure in each interval, by its kind.",
        "short",
        Target(increase(names.exposed(controller.RETRIES), "reason"), "{{reason}}", traffic=False),
        width=8,
    )
    board.graph(
        "GPU fallbacks",
        "TranscriptionJobs the controller moved from GPU to CPU, and ASR models that wanted a GPU (device auto) "
        "but loaded on CPU, in each interval.",
        "short",
        Target(increase(names.exposed(controller.FALLBACKS), "namespace"), "TranscriptionJobs {{namespace}}"),
        Target(increase(names.exposed(asr.DEVICE_FALLBACKS), "engine"), "ASR service {{engine}}", traffic=False),
        width=8,
    )
