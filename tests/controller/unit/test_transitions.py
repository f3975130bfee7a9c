"""The metrics a reconcile pass's changes produce: queue wait, retries, ends by reason, audio, processing, RTF."""

from datetime import UTC, datetime

from prometheus_client import REGISTRY

from controller import transitions

MODELS = {"tiny.en": "bundled"}


def value(name, **labels):
    return REGISTRY.get_sample_value(name, labels) or 0.0


def condition(kind, status, reason, at="2026-11-25T07:00:00Z"):
    return {"type": kind, "status": status, "reason": reason, "message": "", "lastTransitionTime": at}


def test_a_worker_starting_records_the_wait_since_creation_once():
    before_count = value("dhg_controller_queue_wait_seconds_count", device="gpu")
    before_sum = value("dhg_controller_queue_wait_seconds_sum", device="gpu")
    running = {
        "phase": "Running",
        "device": "gpu",
        "conditions": [condition("Running", "True", "Started", "2026-11-25T07:00:42Z")],
    }
    for _ in range(3):  # later passes see it Running already: nothing more
        transitions.observe(
            {"phase": "Scheduling"} if _ == 0 else running,
            running,
            created="2026-11-25T07:00:00Z",
            model="tiny.en",
            models=MODELS,
            retried=False,
        )
    assert value("dhg_controller_queue_wait_seconds_count", device="gpu") == before_count + 1
    assert value("dhg_controller_queue_wait_seconds_sum", device="gpu") == before_sum + 42


def test_a_worker_that_ran_and_ended_between_two_passes_records_its_wait_from_its_container_start():
    count = value("dhg_controller_queue_wait_seconds_count", device="cpu")
    total = value("dhg_controller_queue_wait_seconds_sum", device="cpu")
    done = {"phase": "Succeeded", "device": "cpu", "conditions": [condition("Succeeded", "True", "Completed")]}
    started = datetime(2026, 11, 25, 7, 0, 7, tzinfo=UTC)
    for before in ({"phase": "Scheduling"}, done):  # the second pass sees it Succeeded already: nothing more
        transitions.observe(
            before,
            done,
            created="2026-11-25T07:00:00Z",
            model="m",
            models=MODELS,
            retried=False,
            worker_started=started,
        )
    # after a pass that saw it Running, its end adds nothing (the wait was recorded then)
    transitions.observe(
        {"phase": "Running"}, done, created="2026-11-25T07:00:00Z", model="m", models=MODELS, retried=False,
        worker_started=started,
    )  # fmt: skip
    assert value("dhg_controller_queue_wait_seconds_count", device="cpu") == count + 1
    assert value("dhg_controller_queue_wait_seconds_sum", device="cpu") == total + 7


def test_a_success_counts_its_audio_time_and_rtf_by_device_and_served_model():
    done = {
        "phase": "Succeeded",
        "device": "cpu",
        "attempts": 2,
        "audioSeconds": 61.5,
        "processingSeconds": 4.1,
        "realTimeFactor": 15.0,
        "conditions": [condition("Succeeded", "True", "Completed")],
    }
    audio = value("dhg_controller_audio_seconds_total", device="cpu", model="tiny.en")
    other = value("dhg_controller_audio_seconds_total", device="cpu", model="other")
    finished = value("dhg_controller_jobs_finished_total", phase="Succeeded", reason="Completed")
    rtf = value("dhg_controller_real_time_factor_count", device="cpu", model="tiny.en")
    for model in ("tiny.en", "a-model-nobody-serves"):
        transitions.observe({"phase": "Running"}, done, created=None, model=model, models=MODELS, retried=False)
    transitions.observe(done, done, created=None, model="tiny.en", models=MODELS, retried=False)  # no change
    assert value("dhg_controller_audio_seconds_total", device="cpu", model="tiny.en") == audio + 61.5
    assert value("dhg_controller_audio_seconds_total", device="cpu", model="other") == other + 61.5
    assert value("dhg_controller_jobs_finished_total", phase="Succeeded", reason="Completed") == finished + 2
    assert value("dhg_controller_real_time_factor_count", device="cpu", model="tiny.en") == rtf + 1


def test_retries_and_failures_are_counted_by_reason():
    retried = {"phase": "Scheduling", "device": "cpu", "conditions": [condition("Running", "False", "OOMKilled")]}
    failed = {
        "phase": "Failed",
        "device": "cpu",
        "attempts": 1,
        "conditions": [condition("Failed", "True", "BadInput")],
    }
    retries = value("dhg_controller_retries_total", reason="OOMKilled")
    bad = value("dhg_controller_jobs_finished_total", phase="Failed", reason="BadInput")
    audio = value("dhg_controller_audio_seconds_total", device="cpu", model="tiny.en")
    transitions.observe({"phase": "Running"}, retried, created=None, model="tiny.en", models=MODELS, retried=True)
    transitions.observe({"phase": "Running"}, failed, created=None, model="tiny.en", models=MODELS, retried=False)
    assert value("dhg_controller_retries_total", reason="OOMKilled") == retries + 1
    assert value("dhg_controller_jobs_finished_total", phase="Failed", reason="BadInput") == bad + 1
    assert value("dhg_controller_audio_seconds_total", device="cpu", model="tiny.en") == audio  # no audio for a failure
