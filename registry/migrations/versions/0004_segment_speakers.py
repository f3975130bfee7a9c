"""Who speaks each segment (diarization): `segments.speaker`, null where nobody asked.

A speaker is `A`, `B`, ... or a known speaker's name; words carry theirs inside `words`. The column takes the small
statistics target of the other planned columns (0003): search filters on it.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05 13:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("segments", sa.Column("speaker", sa.Text(), nullable=True))
    op.execute('ALTER TABLE segments ALTER COLUMN "speaker" SET STATISTICS 10')


def downgrade() -> None:
    op.drop_column("segments", "speaker")
