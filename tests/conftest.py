"""Fixtures that start real things: an embedded PostgreSQL with pgvector, and the Registry over HTTP."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from dhg.postgres import EmbeddedPostgres, free_port


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(tmp_path_factory.mktemp("pg"), durable=False).start()
    yield server
    server.destroy()


@pytest.fixture
def empty_database(postgres: EmbeddedPostgres, request: pytest.FixtureRequest) -> str:
    """A fresh, empty database (no schema) for this test."""
    return postgres.create_database(f"t_{secrets.token_hex(6)}")


@dataclass
class RunningServer:
    url: str
    admin_token: str
    settings: object
    app: object
    thread: threading.Thread
    server: uvicorn.Server

    def client(self, token: str | None = None, **kwargs: object) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60, **kwargs)  # type: ignore[arg-type]

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def start_registry(
    database_url: str, storage_dir: Path, port: int = 0, admin_token: str | None = None, **overrides: object
) -> RunningServer:
    """Migrate the database, then serve the Registry with uvicorn on a free loopback port in a thread."""
    from registry import migrate
    from registry.app import create_app
    from registry.settings import Settings

    migrate.upgrade(database_url)
    admin_token = admin_token or "test-admin-" + secrets.token_hex(16)
    fast: dict[str, object] = {
        "webhook_poll_seconds": 0.1,
        "webhook_backoff_base_seconds": 0.2,
        "webhook_backoff_max_seconds": 1.0,
        "embedding_poll_seconds": 0.2,
        "token_cache_seconds": 0.0,
        "webhook_allowed_networks": ["127.0.0.1/32"],  # the tests' receivers are on loopback
        "webhook_secret_key": "test-sealing-" + secrets.token_hex(16),
    }
    settings = Settings(
        database_url=database_url, storage_dir=storage_dir, admin_token=admin_token, **(fast | overrides)
    )
    app = create_app(settings)
    url, server, thread = serve(app, port=port)
    return RunningServer(url, admin_token, settings, app, thread, server)


def serve(app: object, port: int = 0) -> tuple[str, uvicorn.Server, threading.Thread]:
    """Serve an ASGI app with uvicorn on loopback in a thread; returns (url, server, thread) once started."""
    port = port or free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="on")  # type: ignore[arg-type]
    )
    thread = threading.Thread(target=server.run, name=f"server-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the server on port {port} did not start")
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server, thread


@pytest.fixture(scope="session")
def registry(postgres: EmbeddedPostgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One Registry for the session, with the embedding model loaded (search needs it)."""
    database_url = postgres.create_database("registry")
    server = start_registry(database_url, tmp_path_factory.mktemp("media"), embeddings="on")
    yield server
    server.stop()


@pytest.fixture
def admin(registry: RunningServer) -> Iterator[httpx.Client]:
    with registry.client(registry.admin_token) as client:
        yield client


def make_token(admin: httpx.Client, *scopes: str, name: str = "test") -> str:
    response = admin.post("/v1/tokens", json={"name": name, "scopes": list(scopes)})
    assert response.status_code == 201, response.text
    return str(response.json()["token"])


@pytest.fixture
def writer(registry: RunningServer, admin: httpx.Client) -> Iterator[httpx.Client]:
    with registry.client(make_token(admin, "write", name="writer")) as client:
        yield client


@pytest.fixture
def reader(registry: RunningServer, admin: httpx.Client) -> Iterator[httpx.Client]:
    with registry.client(make_token(admin, "read", name="reader")) as client:
        yield client
