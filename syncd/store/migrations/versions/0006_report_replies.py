"""ix_interactions_replies: the period's replies for the report's In-Reply-To answers,
without reading every interaction of the period

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("interactions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_interactions_replies",
            ["owner_id", "occurred_at"],
            sqlite_where=sa.text("in_reply_to IS NOT NULL"),
            postgresql_where=sa.text("in_reply_to IS NOT NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("interactions", schema=None) as batch_op:
        batch_op.drop_index("ix_interactions_replies")
