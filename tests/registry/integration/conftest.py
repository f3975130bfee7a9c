"""Fixtures of the Registry's integration tests beyond the session's (tests/conftest.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from dhg.postgres import EmbeddedPostgres
from tests.conftest import RunningServer, start_registry


@pytest.fixture
def registry_on_own_postgres(tmp_path: Path) -> Iterator[tuple[EmbeddedPostgres, RunningServer]]:
    """A Registry on a PostgreSQL of its own (durable, as in production), for tests that stop, restart or kill it."""
    postgres = EmbeddedPostgres(tmp_path / "pg", durable=True).start()
    server = start_registry(
        postgres.create_database(f"own_{uuid.uuid4().hex[:8]}"), tmp_path / "media", embeddings="off"
    )
    yield postgres, server
    server.stop()
    postgres.destroy()
