"""contact_buckets: the monthly rollup `syncd report` reads, maintained beside contact_stats
and backfilled here

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# The aggregate of syncd/store/rollups.py as it stood at this revision, in plain SQL so
# that later changes to the code do not change what this migration did.
BACKFILL = """
INSERT INTO contact_buckets (contact_id, owner_id, month, thread_key, last_at, last_in_at,
    last_out_at, last_meeting_at)
SELECT p.contact_id, MIN(p.owner_id), {month}, i.thread_key, MAX(p.occurred_at),
    MAX(CASE WHEN p.kind = 'email' AND i.thread_key IS NOT NULL AND p.direction = 'in'
        THEN p.occurred_at END),
    MAX(CASE WHEN p.kind = 'email' AND i.thread_key IS NOT NULL AND p.direction = 'out'
        THEN p.occurred_at END),
    MAX(CASE WHEN p.kind = 'meeting' THEN p.occurred_at END)
FROM participants p JOIN interactions i ON i.id = p.interaction_id
WHERE p.contact_id IS NOT NULL AND p.is_counterpart = {t} AND p.is_interaction = {t}
GROUP BY p.contact_id, i.thread_key, {month}
"""


def upgrade() -> None:
    op.create_table(
        "contact_buckets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("thread_key", sa.String(length=1000), nullable=True),
        sa.Column("last_at", sa.DateTime(), nullable=False),
        sa.Column("last_in_at", sa.DateTime(), nullable=True),
        sa.Column("last_out_at", sa.DateTime(), nullable=True),
        sa.Column("last_meeting_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_contact_buckets_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["owners.id"],
            name=op.f("fk_contact_buckets_owner_id_owners"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_buckets")),
    )
    with op.batch_alter_table("contact_buckets", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_contact_buckets_contact_id"), ["contact_id"], unique=False
        )
        batch_op.create_index("ix_contact_buckets_owner_id_month", ["owner_id", "month"])
    sqlite = op.get_bind().dialect.name == "sqlite"
    span_end = "COALESCE(p.ends_at, p.occurred_at)"
    month = f"strftime('%Y-%m', {span_end})" if sqlite else f"to_char({span_end}, 'YYYY-MM')"
    op.execute(BACKFILL.format(t="1" if sqlite else "true", month=month))


def downgrade() -> None:
    with op.batch_alter_table("contact_buckets", schema=None) as batch_op:
        batch_op.drop_index("ix_contact_buckets_owner_id_month")
        batch_op.drop_index(batch_op.f("ix_contact_buckets_contact_id"))
    op.drop_table("contact_buckets")
