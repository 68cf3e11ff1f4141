"""rules: contact dates and working hours, action fingerprints, participant stats columns

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "contact_dates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("year", sa.Integer(), nullable=True),
        sa.Column("month", sa.Integer(), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_contact_dates_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["owners.id"],
            name=op.f("fk_contact_dates_owner_id_owners"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_dates")),
        sa.UniqueConstraint(
            "contact_id", "kind", "label", name=op.f("uq_contact_dates_contact_id_kind_label")
        ),
    )
    with op.batch_alter_table("contact_dates", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_contact_dates_contact_id"), ["contact_id"])
        batch_op.create_index(batch_op.f("ix_contact_dates_owner_id"), ["owner_id"])
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("working_hours", sa.String(length=32), nullable=True))
    with op.batch_alter_table("actions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fingerprint", sa.String(length=128), nullable=True))
    with op.batch_alter_table("participants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("direction", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("is_interaction", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("occurred_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("ends_at", sa.DateTime(), nullable=True))
    for column in ("kind", "direction", "is_interaction", "occurred_at", "ends_at"):
        op.execute(
            f"UPDATE participants SET {column} = (SELECT interactions.{column}"
            " FROM interactions WHERE interactions.id = participants.interaction_id)"
        )
    with op.batch_alter_table("participants", schema=None) as batch_op:
        batch_op.create_index(
            "ix_participants_contact_stats",
            ["contact_id", "is_interaction", "occurred_at", "direction", "kind", "ends_at"],
            sqlite_where=sa.text("contact_id IS NOT NULL AND is_counterpart = 1"),
            postgresql_where=sa.text("contact_id IS NOT NULL AND is_counterpart = true"),
        )


def downgrade() -> None:
    with op.batch_alter_table("participants", schema=None) as batch_op:
        batch_op.drop_index("ix_participants_contact_stats")
        for column in ("ends_at", "occurred_at", "is_interaction", "direction", "kind"):
            batch_op.drop_column(column)
    with op.batch_alter_table("actions", schema=None) as batch_op:
        batch_op.drop_column("fingerprint")
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_column("working_hours")
    with op.batch_alter_table("contact_dates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contact_dates_owner_id"))
        batch_op.drop_index(batch_op.f("ix_contact_dates_contact_id"))
    op.drop_table("contact_dates")
