"""The contract between the worker pod (`python -m asr.worker`) and the controller that launched it: the exit
codes, the one-line JSON summary the worker leaves as its termination message, where that message goes, and
the environment prefix of the worker's settings. Both sides import it; neither imports the other."""

from __future__ import annotations

import json
from enum import IntEnum
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.alias_generators import to_camel

from dhg_core.vocabulary import Device

TERMINATION_LOG: Final = "/dev/termination-log"
TERMINATION_MESSAGE_LIMIT: Final = 4096  # bytes the kubelet keeps of a termination message
SETTINGS_ENV_PREFIX: Final = "DHG_ASR_"  # the worker reads its settings (asr.settings.Settings) from DHG_ASR_*


class ExitCode(IntEnum):
    """What the controller does next: nothing (OK), fail the job at once (BAD_INPUT), or retry later."""

    OK = 0
    BAD_INPUT = 2
    TRANSIENT = 75  # EX_TEMPFAIL: the Registry or the source was unreachable, or the device is missing


FailureReason = Literal["BadInput", "Transient"]


class WorkerSummary(BaseModel):
    """The worker's one-line account of its run (camelCase on the wire, as in the TranscriptionJob's status)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True)

    status: Literal["Succeeded", "Failed"]
    job_id: str | None = None
    reason: FailureReason | None = None
    message: str | None = None
    transcript_id: str | None = None
    audio_seconds: float | None = None
    processing_seconds: float | None = None
    real_time_factor: float | None = None
    wall_seconds: float | None = None
    device: Device | None = None
    engine: str | None = None
    model: str | None = None
    language: str | None = None
    segments: int | None = None

    @classmethod
    def failed(cls, reason: FailureReason, message: str, job_id: str | None = None) -> WorkerSummary:
        return cls(status="Failed", reason=reason, message=message, job_id=job_id)

    def line(self) -> str:
        """One line of compact JSON, without the fields that are not known."""
        return self.model_dump_json(by_alias=True, exclude_none=True)

    @classmethod
    def parse(cls, termination_message: str | None) -> WorkerSummary | None:
        """The summary in a pod's termination message, or None when there is none: with FallbackToLogsOnError a
        crash leaves the log's tail there instead, so the last line that is a summary wins."""
        if not termination_message:
            return None
        for line in reversed(termination_message.strip().splitlines()):
            try:
                return cls.model_validate(json.loads(line))
            except (ValueError, ValidationError):
                continue
        return None
