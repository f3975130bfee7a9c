"""Uploads storing their bytes: `asset_uploads`, one row per upload between storing its bytes (outside any
transaction) and recording them, so that a delete of the same bytes meanwhile does not remove them.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 23:55:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "asset_uploads",
        sa.Column("id", postgresql.UUID(as_uuid=True), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("sha256", sa.Text(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_asset_uploads")),
    )
    op.create_index(op.f("ix_asset_uploads_sha256"), "asset_uploads", ["sha256"])


def downgrade() -> None:
    op.drop_index(op.f("ix_asset_uploads_sha256"), table_name="asset_uploads")
    op.drop_table("asset_uploads")
