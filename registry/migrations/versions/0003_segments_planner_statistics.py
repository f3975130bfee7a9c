"""Small planner statistics for segments, none on the columns that no plan filters or joins on.

Autovacuum analyzes `segments` about once a minute while transcripts stream in (each minute adds more than 10%
of the table until it is large), and each ANALYZE took a core for 0.2-0.6 s at 200k rows: it samples 300 x the
statistics target rows (30,000) and sorts their texts for statistics no query uses (text is searched through
`tsv`, the embedding through its HNSW index, `words` is only returned). On a 2-core machine that once-a-minute
burst set the API's p99 in whichever 20 s window it fell (bench/registry). Every segment query is driven by an
index (the transcript's segments, GIN, HNSW, the embedding backlog), so a target of 10 (3,000 sampled rows) is
enough, and none on those three columns: the same ANALYZE now takes ~0.03 s.

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
PLANNED = ("id", "transcript_id", "position", "start", "end", "avg_logprob", "no_speech_prob", "tsv", "created_at")
SMALL_TARGET = 10


def upgrade() -> None:
    targets = {**dict.fromkeys(UNPLANNED, 0), **dict.fromkeys(PLANNED, SMALL_TARGET)}
    for column, target in targets.items():
        op.execute(f'ALTER TABLE segments ALTER COLUMN "{column}" SET STATISTICS {target}')


def downgrade() -> None:
    for column in (*UNPLANNED, *PLANNED):
        op.execute(f'ALTER TABLE segments ALTER COLUMN "{column}" SET STATISTICS -1')
