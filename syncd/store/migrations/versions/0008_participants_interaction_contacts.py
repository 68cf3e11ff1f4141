"""ix_participants_interaction_contacts: an interaction's participants with whether each
is a counterpart and its contact, so that the report finds an interaction's contact in the
index alone; it replaces ix_participants_interaction_id, of which it is an extension

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("participants", schema=None) as batch_op:
        batch_op.create_index(
            "ix_participants_interaction_contacts",
            ["interaction_id", "is_counterpart", "contact_id"],
        )
        batch_op.drop_index("ix_participants_interaction_id")


def downgrade() -> None:
    with op.batch_alter_table("participants", schema=None) as batch_op:
        batch_op.create_index("ix_participants_interaction_id", ["interaction_id"])
        batch_op.drop_index("ix_participants_interaction_contacts")
