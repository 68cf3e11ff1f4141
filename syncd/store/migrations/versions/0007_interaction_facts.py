"""interaction_facts: per real interaction, what the report reads of its thread and replies
(the other way's first mail, its first answer), maintained at ingest and backfilled here;
an index of the replies by the message they name

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# The aggregate of syncd/store/facts.py as it stood at this revision, in plain SQL so that
# later changes to the code do not change what this migration did.
_MAIL = "r.owner_id = e.owner_id AND r.kind = 'email' AND r.is_interaction = {t}" + (
    " AND r.direction IN ('in', 'out')"
)
_THREAD = _MAIL + " AND r.thread_key = e.thread_key"
_IS_MAIL = "e.kind = 'email' AND e.direction IN ('in', 'out')"
BACKFILL = f"""
INSERT INTO interaction_facts (interaction_id, owner_id, kind, direction, occurred_at,
    ends_at, other_way_at, thread_answer_at, reference_answer_at, horizon_at)
SELECT e.id, e.owner_id, e.kind, e.direction, e.occurred_at, e.ends_at,
    CASE WHEN e.thread_key IS NOT NULL THEN (
        SELECT MIN(r.occurred_at) FROM interactions r
        WHERE {_THREAD} AND r.direction != e.direction) END,
    CASE WHEN e.thread_key IS NOT NULL AND {_IS_MAIL} THEN (
        SELECT MIN(r.occurred_at) FROM interactions r
        WHERE {_THREAD}
          AND r.direction = CASE WHEN e.direction = 'out' THEN 'in'
                                 WHEN e.direction = 'in' THEN 'out' END
          AND (r.occurred_at > e.occurred_at
               OR (r.occurred_at = e.occurred_at AND r.id > e.id))) END,
    CASE WHEN {_IS_MAIL} AND substr(e.message_key, 1, 4) = 'mid:' THEN (
        SELECT MIN(CASE WHEN r.occurred_at > e.occurred_at THEN r.occurred_at END)
        FROM interactions r
        WHERE {_MAIL} AND r.in_reply_to = substr(e.message_key, 5)
          AND r.direction != e.direction) END,
    CASE WHEN e.thread_key IS NOT NULL THEN (
        SELECT MAX(r.ends_at) FROM interactions r
        WHERE {_THREAD} AND r.ends_at > r.occurred_at) END
FROM interactions e
WHERE e.is_interaction = {{t}}
"""


def upgrade() -> None:
    with op.batch_alter_table("interactions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_interactions_in_reply_to",
            ["owner_id", "in_reply_to"],
            sqlite_where=sa.text("in_reply_to IS NOT NULL"),
            postgresql_where=sa.text("in_reply_to IS NOT NULL"),
        )
    op.create_table(
        "interaction_facts",
        sa.Column("interaction_id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=True),
        sa.Column("occurred_at", sa.DateTime(), nullable=False),
        sa.Column("ends_at", sa.DateTime(), nullable=True),
        sa.Column("other_way_at", sa.DateTime(), nullable=True),
        sa.Column("thread_answer_at", sa.DateTime(), nullable=True),
        sa.Column("reference_answer_at", sa.DateTime(), nullable=True),
        sa.Column("horizon_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["interaction_id"],
            ["interactions.id"],
            name=op.f("fk_interaction_facts_interaction_id_interactions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["owners.id"],
            name=op.f("fk_interaction_facts_owner_id_owners"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("interaction_id", name=op.f("pk_interaction_facts")),
    )
    t = "1" if op.get_bind().dialect.name == "sqlite" else "true"
    op.execute(BACKFILL.format(t=t))
    with op.batch_alter_table("interaction_facts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_interaction_facts_horizon",
            ["owner_id", "horizon_at"],
            sqlite_where=sa.text("horizon_at IS NOT NULL"),
            postgresql_where=sa.text("horizon_at IS NOT NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("interaction_facts", schema=None) as batch_op:
        batch_op.drop_index("ix_interaction_facts_horizon")
    op.drop_table("interaction_facts")
    with op.batch_alter_table("interactions", schema=None) as batch_op:
        batch_op.drop_index("ix_interactions_in_reply_to")
