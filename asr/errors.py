"""The ASR service's errors, each with a stable RFC 9457 problem `type` (and an OpenAI-style error body)."""

from __future__ import annotations

from typing import Any

from dhg_core.problems import Problem


class AsrError(Problem):
    """Base of the ASR service's errors: problem+json, plus the body OpenAI clients read."""

    def problem(self, instance: str | None = None) -> dict[str, Any]:
        body = super().problem(instance)
        # The official OpenAI client reads `error.message`; keep both shapes in one body.
        body["error"] = {"message": self.detail, "type": self.slug, "code": self.slug}
        return body


class BadAudio(AsrError):
    status, slug, title = 400, "bad-audio", "The file is not audio that can be decoded"


class EmptyAudio(AsrError):
    status, slug, title = 400, "empty-audio", "The file holds no audio"


class AudioTooLong(AsrError):
    status, slug, title = 413, "audio-too-long", "The audio is longer than this service accepts"


class TooLarge(AsrError):
    status, slug, title = 413, "too-large", "The upload is larger than this service accepts"


class InvalidRequest(AsrError):
    status, slug, title = 400, "invalid-request", "The request is invalid"


class ModelNotFound(AsrError):
    status, slug, title = 404, "model-not-found", "The model is not available here"


class QueueFull(AsrError):
    status, slug, title = 429, "queue-full", "Too many transcriptions are waiting"


class DeviceUnavailable(AsrError):
    status, slug, title = 503, "device-unavailable", "The requested device is not available"


class OutboxUnavailable(AsrError):
    """The result could not be written to the outbox (its disk full or failing): nothing was delivered."""

    status, slug, title = 503, "outbox-unavailable", "The result could not be kept for delivery"


class NotReady(AsrError):
    status, slug, title = 503, "not-ready", "The service is not ready"


class JobNotFound(AsrError):
    status, slug, title = 404, "job-not-found", "No such transcription job"


class JobNotFinished(AsrError):
    status, slug, title = 409, "job-not-finished", "The transcription job has no result yet"


class JobCancelled(AsrError):
    status, slug, title = 409, "job-cancelled", "The transcription job was cancelled"


class DiarizationUnavailable(AsrError):
    """Speaker labels were asked for and this installation has no diarization backend."""

    status, slug, title = 501, "diarization-unavailable", "Speaker diarization is not installed here"
