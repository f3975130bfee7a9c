"""Expected failures of the command line: each is reported as one `error: ...` line and exit status 1."""

from __future__ import annotations


class DhgError(Exception):
    """Base of every failure the command line reports without a traceback."""

    exit_code = 1


class PortInUse(DhgError):
    """A port local mode needs is taken by another process."""


class AlreadyRunning(DhgError):
    """Another `dhg up` holds the data dir."""


class StackError(DhgError):
    """A part of the local stack (Postgres, migrations, the Registry) failed to start or died."""


class RegistryUnreachable(DhgError):
    """Nothing answers at the Registry URL."""


class RegistryRefused(DhgError):
    """The Registry answered with an HTTP error (bad token, missing scope, not found, invalid input)."""

    def __init__(self, message: str, status: int, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after  # seconds, when the Registry said the refusal will pass (Retry-After)


class NoToken(DhgError):
    """No bearer token was given and the data dir holds none."""


class AsrUnreachable(DhgError):
    """Nothing answers at the ASR service's URL, or it is not ready."""


class AsrRefused(DhgError):
    """The ASR service answered with an HTTP error (not audio, bad API key, unknown model, too large)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class TranscriptNotStored(DhgError):
    """The ASR service answered, but its transcript did not reach the Registry in time."""
