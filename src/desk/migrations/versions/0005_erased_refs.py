"""Erased refs: digests of the refs erased customers had, so that imports do not recreate them.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "erased_refs",
        sa.Column("digest", sa.String(), nullable=False),
        sa.Column("erased_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_erased_refs")),
    )


def downgrade() -> None:
    op.drop_table("erased_refs")
