"""The controller-worker contract from both sides: the Job the controller builds configures exactly the worker's
settings, its arguments are the worker's options, and the summary the worker writes is what the controller reads."""

import os
import uuid
from pathlib import Path

import pytest
import typer.main
import yaml

from asr import worker
from asr.settings import Settings
from controller import manifests
from controller.model import TranscriptionJob
from dhg_core.worker import SETTINGS_ENV_PREFIX, TERMINATION_LOG, WorkerSummary
from tests.controller.schema import EXAMPLES

SECRET = "dhg_from_the_secret"


def example(name: str) -> TranscriptionJob:
    document = yaml.safe_load(next(p for p in EXAMPLES if p.name == name).read_text())
    document["metadata"] |= {"namespace": "media", "uid": str(uuid.uuid4())}
    return TranscriptionJob.model_validate(document)


def container_of(job: TranscriptionJob, placement: str) -> dict:
    manifest = manifests.build_job(job, placement, 1, manifests.WorkerConfig(registry_url="http://registry:8000"))
    return manifest["spec"]["template"]["spec"]["containers"][0]


@pytest.mark.parametrize("placement", ["gpu", "cpu"])
def test_the_worker_settings_are_built_from_exactly_what_the_job_passes(monkeypatch, placement):
    env = container_of(example("auto-fallback.yaml"), placement)["env"]
    ours = [variable for variable in env if variable["name"].startswith(SETTINGS_ENV_PREFIX)]
    fields = {SETTINGS_ENV_PREFIX + name.upper() for name in Settings.model_fields}
    assert {v["name"] for v in ours} <= fields, "the Job sets a DHG_ASR_ variable the worker's Settings ignores"
    for name in [n for n in list(os.environ) if n.startswith(SETTINGS_ENV_PREFIX)]:
        monkeypatch.delenv(name)
    for variable in ours:
        value = variable.get("value", SECRET if "secretKeyRef" in variable.get("valueFrom", {}) else None)
        assert value is not None, variable
        monkeypatch.setenv(variable["name"], value)
    settings = Settings()
    assert settings.registry_url == "http://registry:8000"
    assert settings.registry_token is not None and settings.registry_token.get_secret_value() == SECRET
    assert (
        settings.termination_log
        == Path(TERMINATION_LOG)
        == Path(container_of(example("cpu.yaml"), "cpu")["terminationMessagePath"])
    )
    assert settings.worker_allowed_roots == [Path(manifests.DATA_MOUNT)]
    scratch = Path(manifests.WorkerConfig().scratch_mount)
    assert settings.outbox_dir.parent == scratch and settings.model_cache_dir.parent == scratch


@pytest.mark.parametrize("name", ["auto-fallback.yaml", "cpu.yaml", "gpu.yaml", "url-source.yaml", "asset-source.yaml"])
def test_the_job_arguments_are_options_the_worker_has(name):
    job = example(name)
    for placement in ("gpu", "cpu"):
        args = container_of(job, placement)["args"]
        command = typer.main.get_command(
            typer.Typer(add_completion=False, callback=worker.main, invoke_without_command=True)
        )
        context = command.make_context("asr.worker", list(args), resilient_parsing=False)
        assert context.params["job_id"] == job.metadata.uid
        assert context.params["device"] in ("auto", "gpu", "cpu")
        assert Settings(device=context.params["device"]).device in ("auto", "gpu", "cpu")


def test_the_summary_the_worker_writes_is_the_one_the_controller_reads():
    written = WorkerSummary(
        status="Succeeded",
        job_id="j",
        transcript_id=str(uuid.uuid4()),
        audio_seconds=61.2,
        real_time_factor=15.3,
        device="gpu",
    )
    line = written.line()
    assert '"transcriptId"' in line and '"realTimeFactor":15.3' in line and "null" not in line
    assert WorkerSummary.parse("a log line\n" + line) == written
