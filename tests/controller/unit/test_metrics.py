"""The census behind dhg_controller_jobs: TranscriptionJobs by phase and device, kept as they change."""

from __future__ import annotations

from prometheus_client import REGISTRY

from controller.metrics import Census


def gauge(phase: str, device: str) -> float | None:
    return REGISTRY.get_sample_value("dhg_controller_jobs", {"phase": phase, "device": device})


def test_the_census_counts_jobs_by_phase_and_device_as_they_move():
    census = Census()
    census.observe("a", "Scheduling", "gpu")
    census.observe("b", "Scheduling", "gpu")
    census.observe("c", None, None)  # no status yet: not counted
    assert gauge("Scheduling", "gpu") == 2
    census.observe("a", "Running", "cpu")  # fell back, then ran
    assert (gauge("Scheduling", "gpu"), gauge("Running", "cpu")) == (1, 1)
    census.observe("a", "Succeeded", "cpu")
    census.forget("b")
    census.forget("never-seen")
    assert (gauge("Scheduling", "gpu"), gauge("Running", "cpu"), gauge("Succeeded", "cpu")) == (0, 0, 1)
    census.forget("a")
    assert gauge("Succeeded", "cpu") == 0  # kept at zero, not dropped
