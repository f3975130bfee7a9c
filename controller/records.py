"""The Registry's record of a TranscriptionJob (job id = the object's uid): what the operator writes on a cluster
and local mode's runner writes on a laptop, so that both leave the same record."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from controller.model import TranscriptionJob
from dhg_contract.schemas import JobIn, JobPatch, JobSource

CANCELLED = JobPatch(phase="Cancelled", error="the TranscriptionJob was deleted")


def patch(status: Mapping[str, Any]) -> JobPatch:
    """Where the job stands (each phase change writes it)."""
    phase = status.get("phase", "Pending")
    return JobPatch(
        phase=phase,
        device=status.get("device"),
        attempts=status.get("attempts", 0),
        error=status.get("message") if phase == "Failed" else None,
        transcript_id=status.get("transcriptId"),
        started_at=status.get("startTime"),
        finished_at=status.get("completionTime"),
    )


def job(body: Mapping[str, Any], status: Mapping[str, Any]) -> JobIn:
    """The first record: what the job is, and (as `patch`) where it stands."""
    spec = TranscriptionJob.from_body(body).spec
    source = JobSource.model_validate(spec.source.model_dump(exclude_none=True, mode="json"))
    parameters = spec.model_dump(by_alias=True, exclude={"source"}, exclude_none=True, mode="json")
    name = f"{body['metadata']['namespace']}/{body['metadata']['name']}"
    state = patch(status).model_dump(exclude_none=True)
    return JobIn(id=body["metadata"]["uid"], name=name, source=source, parameters=parameters, **state)
