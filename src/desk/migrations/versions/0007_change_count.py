"""Change count: the saves a SQLite desk has committed, so that live desks can tell them from
presence heartbeats (both move SQLite's own change mark).

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "change_count",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("saves", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_change_count")),
    )
    op.bulk_insert(table, [{"id": 1, "saves": 0}])


def downgrade() -> None:
    op.drop_table("change_count")
