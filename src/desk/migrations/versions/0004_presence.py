"""Presence: which desk has which complaint open right now.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "presence",
        sa.Column("desk_id", sa.String(), nullable=False),
        sa.Column("complaint_ref", sa.String(), nullable=False),
        sa.Column("agent", sa.String(), nullable=False),
        sa.Column("seen_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("desk_id", "complaint_ref", name=op.f("pk_presence")),
    )
    with op.batch_alter_table("presence", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_presence_complaint_ref"), ["complaint_ref"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("presence", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_presence_complaint_ref"))
    op.drop_table("presence")
