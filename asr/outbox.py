"""The durable outbox: every finished transcription is written to local disk (atomically, fsynced) before
delivery is tried, and removed only once the Registry has accepted it, so neither a Registry outage nor a
restart of this process loses a result. The Registry de-duplicates on the job id, so a delivery repeated
after a crash stores nothing twice."""

from __future__ import annotations

import logging
import os
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from asr import metrics
from dhg_contract.client import RegistryAPIError, RegistryClient
from dhg_contract.schemas import TranscriptIn

log = logging.getLogger("asr.outbox")
SUFFIX = ".json"
AUDIO_SUFFIX = ".ogg"  # an entry's audio, when it is to be stored with it as an asset (a live session's)


class Outbox:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.dead_directory = directory / "dead"
        self.dead_directory.mkdir(parents=True, exist_ok=True)
        self._update_gauge()

    def _update_gauge(self) -> None:
        metrics.OUTBOX_DEPTH.set(len(self.pending()))

    def put(self, transcript: TranscriptIn) -> Path:
        """Persist one result (durably: temp file, fsync, rename, fsync the directory)."""
        target = self.directory / f"{transcript.job_id}{SUFFIX}"
        temporary = target.with_suffix(".tmp")
        try:
            with temporary.open("wb") as handle:
                handle.write(transcript.model_dump_json(exclude_none=True).encode())
                handle.flush()
                os.fsync(handle.fileno())
        except OSError:  # the disk is full or failing: no partial entry is left behind
            temporary.unlink(missing_ok=True)
            raise
        os.replace(temporary, target)
        descriptor = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        self._update_gauge()
        return target

    def pending(self) -> list[Path]:
        """Results waiting, oldest first."""
        return sorted(self.directory.glob(f"*{SUFFIX}"), key=lambda p: p.stat().st_mtime_ns)

    def audio_path(self, job_id: uuid.UUID) -> Path:
        """Where the audio of `job_id`'s entry goes (written there before the entry is put): uploaded as an asset,
        and the transcript linked to it, when the entry is delivered."""
        return self.directory / f"{job_id}{AUDIO_SUFFIX}"

    def load(self, path: Path) -> TranscriptIn:
        return TranscriptIn.model_validate_json(path.read_bytes())

    def done(self, path: Path) -> None:
        path.unlink(missing_ok=True)
        path.with_suffix(AUDIO_SUFFIX).unlink(missing_ok=True)
        self._update_gauge()

    def waiting(self, job_id: uuid.UUID) -> bool:
        """The result of `job_id` is still to be delivered."""
        return (self.directory / f"{job_id}{SUFFIX}").exists()

    def refusal(self, job_id: uuid.UUID, *, since: float = 0.0) -> str | None:
        """Why the Registry refused the result of `job_id` for good (set aside at or after `since`, a time.time()),
        or None."""
        reason = self.dead_directory / f"{job_id}.reason.txt"
        try:
            if reason.stat().st_mtime >= since:
                return reason.read_text().strip()
        except FileNotFoundError:
            pass
        return None

    def dead(self, path: Path, reason: str) -> None:
        """Set aside a result the Registry refuses for good (kept, with the reason, for an operator)."""
        os.replace(path, self.dead_directory / path.name)
        audio = path.with_suffix(AUDIO_SUFFIX)
        if audio.exists():
            os.replace(audio, self.dead_directory / audio.name)
        (self.dead_directory / f"{path.stem}.reason.txt").write_text(reason + "\n")
        self._update_gauge()


@dataclass
class DeliveryReport:
    delivered: int = 0
    failed: int = 0
    dead: int = 0


class Deliverer:
    """Pushes outbox entries to the Registry; transient failures back off, permanent ones go to dead/."""

    def __init__(
        self, outbox: Outbox, client: Callable[[], RegistryClient], *, base_delay: float = 1.0, max_delay: float = 300.0
    ) -> None:
        self.outbox = outbox
        self.client = client
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.failures = 0
        self.stored: dict[uuid.UUID, uuid.UUID] = {}  # job id → the transcript the Registry stored for it
        self.refused: dict[uuid.UUID, str] = {}  # job id → why the Registry refused its result for good

    def deliver_pending(self) -> DeliveryReport:
        """Try every waiting result once. Stops at the first failure that is not about the result itself
        (Registry down, overloaded, or refusing our token): those are retried with backoff. A result the
        Registry rejects as invalid is set aside in dead/ with the reason."""
        report = DeliveryReport()
        paths = self.outbox.pending()
        if not paths:
            return report
        with self.client() as client:
            for path in paths:
                try:
                    transcript = self.outbox.load(path)
                except (OSError, ValueError) as error:
                    self.outbox.dead(path, f"unreadable outbox entry: {error}")
                    report.dead += 1
                    continue
                try:
                    transcript = self._with_audio(client, path, transcript)
                    pushed = client.push_transcript(transcript)
                except RegistryAPIError as error:
                    if not error.rejects_content:
                        metrics.DELIVERY_FAILURES.labels("transient" if error.transient else "refused").inc()
                        report.failed += 1
                        log.warning(
                            "registry did not accept a result; it stays in the outbox",
                            extra={"job": path.stem, "error": str(error)},
                        )
                        break
                    metrics.DELIVERY_FAILURES.labels("rejected").inc()
                    self.refused[transcript.job_id] = str(error)
                    self.outbox.dead(path, str(error))
                    report.dead += 1
                    log.error("registry refused a result for good", extra={"job": path.stem, "error": str(error)})
                    continue
                metrics.DELIVERIES.labels("created" if pushed.created else "replayed").inc()
                self.stored[transcript.job_id] = pushed.value.id
                self.outbox.done(path)
                report.delivered += 1
        self.failures = self.failures + 1 if report.failed else 0
        return report

    def _with_audio(self, client: RegistryClient, path: Path, transcript: TranscriptIn) -> TranscriptIn:
        """The transcript linked to its entry's audio, uploaded first (the Registry stores the same bytes once, so a
        repeated delivery uploads nothing twice). Audio the Registry refuses for good leaves the text unlinked."""
        audio = path.with_suffix(AUDIO_SUFFIX)
        if transcript.asset_id is not None or not audio.exists():
            return transcript
        try:
            asset = client.upload_asset(audio, filename=f"live-{transcript.job_id}.ogg", content_type="audio/ogg")
        except RegistryAPIError as error:
            if not error.rejects_content:
                raise
            log.error("registry refused a result's audio; its text is stored alone", extra={"job": path.stem})
            return transcript
        return transcript.model_copy(update={"asset_id": asset.value.id})

    def next_delay(self) -> float:
        """Seconds until the next round: soon when healthy, exponential backoff (jittered) while failing."""
        if not self.failures:
            return self.base_delay
        delay = min(self.max_delay, self.base_delay * 2 ** (self.failures - 1))
        return float(delay * random.uniform(0.8, 1.2))  # noqa: S311 (jitter)

    def deliver_until_empty(self, timeout: float) -> bool:
        """Blocking delivery with backoff for at most `timeout` seconds; True when the outbox is empty."""
        deadline = time.monotonic() + timeout
        while True:
            self.deliver_pending()
            if not self.outbox.pending():
                return True
            if time.monotonic() + self.next_delay() > deadline:
                return False
            time.sleep(self.next_delay())
