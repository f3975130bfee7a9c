"""`python -m registry.worker`: the Registry's background work without the HTTP API — segment embeddings
and webhook deliveries — for deployments that scale it apart from the API (run the API with
DHG_REGISTRY_EMBEDDINGS_WORKER=false then). Several workers are safe: both loops claim rows with
SKIP LOCKED. Metrics are served on --metrics-port."""

from __future__ import annotations

import asyncio
import logging

import typer
from prometheus_client import start_http_server

from dhg_core.logs import configure_logging
from registry import embeddings
from registry.db import make_engine, make_sessionmaker
from registry.settings import Settings, get_settings
from registry.webhooks import dispatcher

log = logging.getLogger("registry.worker")


async def run(settings: Settings) -> None:
    engine = make_engine(settings)
    sessions = make_sessionmaker(engine)
    loops = []
    try:
        embedder = await asyncio.to_thread(embeddings.load_embedder, settings)
        if embedder is not None:
            loops.append(embeddings.run_worker(sessions, embedder, settings))
        if settings.webhooks_enabled:
            loops.append(dispatcher.run(sessions, settings))
        if not loops:
            log.warning("nothing to do: embeddings are off or unavailable and webhooks are disabled")
            return
        log.info("worker started", extra={"embeddings": embedder is not None, "webhooks": settings.webhooks_enabled})
        await asyncio.gather(*loops)
    finally:
        await engine.dispose()


def main(metrics_port: int = typer.Option(9100, help="Port of the /metrics endpoint (0: none).")) -> None:
    settings = get_settings()
    configure_logging(settings.service_name + "-worker", settings.log_level)
    if metrics_port:
        start_http_server(metrics_port)
    asyncio.run(run(settings))


if __name__ == "__main__":
    typer.run(main)
