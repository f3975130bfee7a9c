"""Full-text index with a small GIN pending list.

GIN parks new entries in a pending list, and whichever insert finds the list full (4 MB by default) merges all
of it into the index before it can commit: under a steady stream of transcript pushes, one request in a few
hundred waited 100-200 ms (bench/registry: write p99 186 ms at 300/s). A 256 kB list is merged sixteen times as
often, each time a sixteenth of the work (p99 85 ms). Turning the list off (`fastupdate = off`) cost more than it
saved: every insert then updates the index itself, the write rate fell from 584 to 328/s, and 300/s sat at the
edge of capacity (p99 276 ms).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 07:30:00
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER INDEX ix_segments_tsv SET (gin_pending_list_limit = 256)")


def downgrade() -> None:
    op.execute("ALTER INDEX ix_segments_tsv RESET (gin_pending_list_limit)")
