"""Delivery of results from the service to the Registry: outbox first, then a background loop."""

from __future__ import annotations

import asyncio
import logging
import uuid
from pathlib import Path
from typing import Protocol

from asr import metrics
from asr.errors import OutboxUnavailable
from asr.outbox import Deliverer, Outbox
from asr.settings import Settings
from dhg_contract.client import RegistryClient
from dhg_contract.schemas import TranscriptIn
from dhg_core.failures import RepeatedFailures
from dhg_core.waiting import wait_for_work

log = logging.getLogger("asr.delivery")


class Delivery(Protocol):
    def submit(self, transcript: TranscriptIn) -> None: ...

    def audio_path(self, job_id: uuid.UUID) -> Path | None:
        """Where audio to be stored with `job_id`'s transcript is written before it is submitted; None: nowhere."""
        ...

    async def run(self) -> None: ...


class NoDelivery:
    """Standalone service (no Registry configured): results are returned to the caller only."""

    def submit(self, transcript: TranscriptIn) -> None:
        return None

    def audio_path(self, job_id: uuid.UUID) -> Path | None:
        return None

    async def run(self) -> None:
        log.warning("no Registry configured (DHG_ASR_REGISTRY_URL): results are not stored")


class RegistryDelivery:
    def __init__(self, settings: Settings) -> None:
        assert settings.registry_url
        url, token = settings.registry_url, settings.registry_token
        self.outbox = Outbox(settings.outbox_dir)
        self.deliverer = Deliverer(
            self.outbox,
            lambda: RegistryClient(url, token.get_secret_value() if token else None),
            base_delay=settings.outbox_retry_base_seconds,
            max_delay=settings.outbox_retry_max_seconds,
        )
        self.wakeup = asyncio.Event()
        self.retry_after_seconds = settings.retry_after_seconds

    def submit(self, transcript: TranscriptIn) -> None:
        """Persist the result (durable before the caller gets an answer), then wake the loop. A disk that cannot
        take it is a 503 (OutboxUnavailable): the caller is told nothing was kept, so nothing it was told of is lost."""
        try:
            self.outbox.put(transcript)
        except OSError as error:
            metrics.DELIVERY_FAILURES.labels("outbox").inc()
            raise OutboxUnavailable(
                f"the result could not be written to the outbox ({error.strerror or error}); nothing was stored "
                "or delivered: try again",
                retry_after=self.retry_after_seconds,
            ) from error
        self.wakeup.set()

    def audio_path(self, job_id: uuid.UUID) -> Path | None:
        return self.outbox.audio_path(job_id)

    async def run(self) -> None:
        pending = len(self.outbox.pending())
        if pending:
            log.info("results from an earlier run wait in the outbox", extra={"pending": pending})
        failures = RepeatedFailures("the outbox's delivery round", log)
        while True:
            try:
                await asyncio.to_thread(self.deliverer.deliver_pending)
            except Exception as error:  # the outbox keeps every result; the next round tries again
                failures.failed(error)
                self.deliverer.failures += 1
            else:
                failures.succeeded()
            delay = self.deliverer.next_delay() if self.outbox.pending() else 3600.0
            await wait_for_work(self.wakeup if not self.deliverer.failures else None, delay)


def make_delivery(settings: Settings) -> Delivery:
    return RegistryDelivery(settings) if settings.registry_url else NoDelivery()
