"""Migrations build the schema from empty, match the models exactly, and undo cleanly."""

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from registry import migrate
from registry.models import Base

TABLES = {
    "api_tokens",
    "assets",
    "jobs",
    "transcripts",
    "segments",
    "audit_log",
    "webhooks",
    "webhook_deliveries",
    "webhook_attempts",
}


def test_upgrade_from_empty_builds_every_table_and_reaches_head(empty_database):
    assert migrate.current_revision(empty_database) is None
    migrate.upgrade(empty_database)
    assert migrate.current_revision(empty_database) == migrate.head_revision()
    engine = sa.create_engine(empty_database)
    with engine.connect() as connection:
        assert set(sa.inspect(connection).get_table_names()) >= TABLES
        version = connection.execute(sa.text("SELECT extversion FROM pg_extension WHERE extname='vector'")).scalar()
        assert version is not None
        indexes = {
            row[0]: row[1]
            for row in connection.execute(
                sa.text("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'segments'")
            )
        }
        assert "USING hnsw (embedding vector_cosine_ops)" in indexes["ix_segments_embedding_hnsw"]
        assert "USING gin (tsv)" in indexes["ix_segments_tsv"]
    engine.dispose()


def test_migrated_schema_matches_the_models(empty_database):
    migrate.upgrade(empty_database)
    engine = sa.create_engine(empty_database)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), Base.metadata)
    engine.dispose()
    assert diff == []


def test_downgrade_removes_everything_and_upgrade_works_again(empty_database):
    migrate.upgrade(empty_database)
    migrate.downgrade(empty_database, "base")
    engine = sa.create_engine(empty_database)
    with engine.connect() as connection:
        assert not (TABLES & set(sa.inspect(connection).get_table_names()))
    engine.dispose()
    migrate.upgrade(empty_database)
    assert migrate.current_revision(empty_database) == migrate.head_revision()


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_log SET outcome = 'ok'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
    ],
)
def test_the_database_refuses_to_rewrite_the_audit_log(empty_database, statement):
    migrate.upgrade(empty_database)
    engine = sa.create_engine(empty_database)
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO audit_log (actor, action, outcome, status_code, method, path) "
                "VALUES ('t', 'x.y', 'ok', 200, 'POST', '/x')"
            )
        )
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as connection:
        connection.execute(sa.text(statement))
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM audit_log")).scalar() == 1
    engine.dispose()


def test_segments_carry_small_planner_statistics_and_none_where_no_plan_uses_them(empty_database):
    """ANALYZE of a fast-growing segments table sampled 30,000 rows and sorted their texts (migration 0003)."""
    query = sa.text(
        "SELECT attname, COALESCE(attstattarget, -1) FROM pg_attribute "
        "WHERE attrelid = 'segments'::regclass AND attnum > 0 AND NOT attisdropped"
    )
    engine = sa.create_engine(empty_database)
    migrate.upgrade(empty_database)
    with engine.connect() as connection:
        targets = dict(connection.execute(query).all())
    assert {name for name, target in targets.items() if target == 0} == {"text", "embedding", "words"}
    assert {target for name, target in targets.items() if target != 0} == {10}  # every other column, none left out
    migrate.downgrade(empty_database, "0002")
    with engine.connect() as connection:
        assert set(dict(connection.execute(query).all()).values()) == {-1}
    engine.dispose()


def test_pods_migrating_at_once_take_turns(empty_database):
    """A rollout starts several pods whose init containers migrate together: each takes the advisory lock in turn,
    so all succeed and the schema is built once (without the lock, concurrent first migrations collide)."""
    import subprocess
    import sys
    import time

    # Each process imports first, then starts migrating at the same moment.
    code = (
        "import sys, time; from registry import migrate; import alembic.command; "
        "time.sleep(max(0.0, float(sys.argv[2]) - time.time())); migrate.upgrade(sys.argv[1])"
    )
    start = str(time.time() + 8)
    runs = [
        subprocess.Popen([sys.executable, "-c", code, empty_database, start], stderr=subprocess.PIPE) for _ in range(4)
    ]
    errors = [run.communicate(timeout=180)[1].decode() for run in runs]
    assert [run.returncode for run in runs] == [0, 0, 0, 0], errors
    assert migrate.current_revision(empty_database) == migrate.head_revision()
