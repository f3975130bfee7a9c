"""How sure the model was of a transcript's language: `transcripts.language_probability`, null where the language
was given rather than detected (and for transcripts stored before).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 02:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("transcripts", sa.Column("language_probability", sa.Double(), nullable=True))


def downgrade() -> None:
    op.drop_column("transcripts", "language_probability")
