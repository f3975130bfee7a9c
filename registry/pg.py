"""A plain psycopg 3 pool for the two hot routes (transcript push and read).

Everything else goes through SQLAlchemy sessions. The hot routes each send one statement on an autocommit
connection: one round trip, no BEGIN/COMMIT around it, statements prepared server-side after a few uses.
A single statement is atomic on its own, so a data-modifying CTE keeps "the change and its audit row land
together" without an explicit transaction.
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from sqlalchemy.engine import make_url

from registry.settings import Settings

PREPARE_THRESHOLD = 2  # psycopg prepares a statement server-side from its 3rd execution on a connection


def conninfo(database_url: str) -> str:
    """The libpq URL of a SQLAlchemy URL (`postgresql+psycopg://...` → `postgresql://...`)."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _configure(connection: AsyncConnection[Any]) -> None:
    connection.prepare_threshold = PREPARE_THRESHOLD


async def open_pool(settings: Settings) -> AsyncConnectionPool[AsyncConnection[Any]]:
    pool: AsyncConnectionPool[AsyncConnection[Any]] = AsyncConnectionPool(
        conninfo(settings.database_url),
        min_size=1,
        max_size=settings.db_pool_size,
        kwargs={"autocommit": True, "options": "-c timezone=UTC"},
        configure=_configure,
        open=False,
        name="registry-hot",
    )
    await pool.open(wait=False)
    return pool
