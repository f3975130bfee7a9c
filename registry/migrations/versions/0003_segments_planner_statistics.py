"""No planner statistics on the segment columns that no plan filters or joins on.

Autovacuum analyzes `segments` about once a minute while transcripts stream in (each minute adds more than 10%
of the table until it is large), and each ANALYZE took a core for ~0.25 s at 200k rows, mostly sorting the
sampled segment texts for statistics no query uses: text is searched through `tsv` and the embedding through
its HNSW index, and `words` is only returned. Without those statistics the same ANALYZE takes ~0.15 s, so the
once-a-minute stall it puts on the API (bench/registry: the write p99) is shorter.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 14:40:00
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

UNPLANNED = ("text", "embedding", "words")


def upgrade() -> None:
    for column in UNPLANNED:
        op.execute(f'ALTER TABLE segments ALTER COLUMN "{column}" SET STATISTICS 0')


def downgrade() -> None:
    for column in UNPLANNED:
        op.execute(f'ALTER TABLE segments ALTER COLUMN "{column}" SET STATISTICS -1')
