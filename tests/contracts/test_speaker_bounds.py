"""One speaker-count bound (dhg_core/speakers.py) on every surface that takes one: the ASR API's form fields, the
worker's and the CLI's options, the TranscriptionJob CRD (its schema and CEL rule) and model; each refuses 21 and a
minimum above the maximum with the same words."""

from __future__ import annotations

from typing import Any

import pytest
import typer
import yaml
from pydantic import ValidationError

from asr import worker
from asr.app import create_app
from asr.settings import Settings
from controller.model import Diarization
from dhg.commands.transcribe import _speakers, transcribe
from dhg.errors import DhgError
from dhg_core import speakers
from tests.controller.schema import CRD_PATH


def _ranges(function: Any) -> dict[str, tuple[int | None, int | None]]:
    holder = typer.Typer(add_completion=False)
    holder.command()(function)
    command = typer.main.get_command(holder)
    found = {}
    for parameter in command.params:
        if parameter.name in ("min_speakers", "max_speakers"):
            found[parameter.name] = (parameter.min, parameter.max)  # type: ignore[attr-defined]
    return found


def test_the_bounds_and_their_order_check() -> None:
    assert speakers.bounds_error(None, None) is None and speakers.bounds_error(2, 2) is None
    assert speakers.bounds_error(3, 2) == "min_speakers is above max_speakers"
    assert speakers.bounds_error(None, 21) == "max_speakers must be from 1 to 20, not 21"
    assert (
        speakers.bounds_error(0, None, ("--min-speakers", "--max-speakers"))
        == "--min-speakers must be from 1 to 20, not 0"
    )


def test_the_worker_and_the_cli_take_the_same_range() -> None:
    expected = {"min_speakers": (speakers.MIN_SPEAKERS, speakers.MAX_SPEAKERS)} | {
        "max_speakers": (speakers.MIN_SPEAKERS, speakers.MAX_SPEAKERS)
    }
    assert _ranges(worker.main) == expected
    assert _ranges(transcribe) == expected
    with pytest.raises(DhgError, match="--min-speakers is above --max-speakers"):
        _speakers(True, 3, 2, None)
    with pytest.raises(worker.JobFailed, match="--min-speakers is above --max-speakers"):
        worker._diarization(True, 3, 2)


def test_the_api_documents_the_same_range(tmp_path) -> None:
    document = create_app(Settings(outbox_dir=tmp_path / "outbox", spool_dir=tmp_path / "spool")).openapi()
    form = document["components"]["schemas"]["Body_create_transcription_v1_audio_transcriptions_post"]
    for name in ("min_speakers", "max_speakers"):
        (integer,) = [option for option in form["properties"][name]["anyOf"] if option.get("type") == "integer"]
        assert (integer["minimum"], integer["maximum"]) == (speakers.MIN_SPEAKERS, speakers.MAX_SPEAKERS)


def test_the_crd_and_the_model_bound_and_order_alike() -> None:
    version = yaml.safe_load(CRD_PATH.read_text())["spec"]["versions"][0]
    schema = version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["diarization"]
    for name in ("minSpeakers", "maxSpeakers"):
        bounds = schema["properties"][name]
        assert (bounds["minimum"], bounds["maximum"]) == (speakers.MIN_SPEAKERS, speakers.MAX_SPEAKERS)
    (rule,) = schema["x-kubernetes-validations"]
    assert rule == {
        "rule": speakers.ordered_rule("minSpeakers", "maxSpeakers"),
        "message": "diarization.minSpeakers is above maxSpeakers",
    }
    with pytest.raises(ValidationError, match=r"diarization\.minSpeakers is above maxSpeakers"):
        Diarization.model_validate({"enabled": True, "minSpeakers": 3, "maxSpeakers": 2})
    with pytest.raises(ValidationError, match="less than or equal to 20"):
        Diarization.model_validate({"enabled": True, "maxSpeakers": 21})
