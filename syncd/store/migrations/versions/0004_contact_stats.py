"""contact_stats: per-contact statistics maintained at ingest, backfilled here; a covering
index for the report's reading of threads

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# The aggregate of syncd/store/stats.py as it stood at this revision, in plain SQL so that
# later changes to the code do not change what this migration did.
BACKFILL = """
INSERT INTO contact_stats (contact_id, owner_id, last_at, last_in_at, last_out_at,
    last_meeting_at, interactions, horizon_at)
SELECT contact_id, MIN(owner_id),
    MAX(CASE WHEN is_interaction = {t} THEN occurred_at END),
    MAX(CASE WHEN is_interaction = {t} AND direction = 'in' THEN occurred_at END),
    MAX(CASE WHEN is_interaction = {t} AND direction = 'out' THEN occurred_at END),
    MAX(CASE WHEN is_interaction = {t} AND direction = 'mutual' THEN occurred_at END),
    COUNT(DISTINCT CASE WHEN is_interaction = {t} THEN interaction_id END),
    MAX(CASE WHEN ends_at IS NOT NULL AND ends_at > occurred_at THEN ends_at
        ELSE occurred_at END)
FROM participants
WHERE contact_id IS NOT NULL AND is_counterpart = {t}
GROUP BY contact_id
"""


def upgrade() -> None:
    op.create_table(
        "contact_stats",
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("last_at", sa.DateTime(), nullable=True),
        sa.Column("last_in_at", sa.DateTime(), nullable=True),
        sa.Column("last_out_at", sa.DateTime(), nullable=True),
        sa.Column("last_meeting_at", sa.DateTime(), nullable=True),
        sa.Column("interactions", sa.Integer(), nullable=False),
        sa.Column("horizon_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_contact_stats_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["owners.id"],
            name=op.f("fk_contact_stats_owner_id_owners"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("contact_id", name=op.f("pk_contact_stats")),
    )
    with op.batch_alter_table("contact_stats", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_contact_stats_owner_id"), ["owner_id"], unique=False)
    t = "1" if op.get_bind().dialect.name == "sqlite" else "true"
    op.execute(BACKFILL.format(t=t))
    with op.batch_alter_table("interactions", schema=None) as batch_op:
        batch_op.drop_index("ix_interactions_owner_id_thread_key")
        batch_op.create_index(
            "ix_interactions_thread_replies",
            ["owner_id", "thread_key", "direction", "occurred_at", "kind", "is_interaction"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("interactions", schema=None) as batch_op:
        batch_op.drop_index("ix_interactions_thread_replies")
        batch_op.create_index(
            "ix_interactions_owner_id_thread_key", ["owner_id", "thread_key"], unique=False
        )
    with op.batch_alter_table("contact_stats", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contact_stats_owner_id"))
    op.drop_table("contact_stats")
