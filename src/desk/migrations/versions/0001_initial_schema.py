"""customers, agents, calls, complaints, lifecycle, purchases, points, SLA, audit

Revision ID: 0001
Revises:
Create Date: 2026-11-23 13:43:15.482405
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# The defaults as they stood when this revision was written (kept here, not imported, so that
# the migration means the same thing forever).
CATEGORIES = (
    ("competitor", "Lured away by a competitor or a lower price elsewhere"),
    ("service", "Disappointed by customer service"),
    ("product", "Disappointed by the product or service itself"),
    ("price", "Unhappy with our price"),
    ("no_need", "No longer wants or needs it"),
    ("moved", "Left the market / moved away"),
    ("other", "Other"),
)
SLA = {
    "urgent": (3600, 8 * 3600),
    "high": (4 * 3600, 24 * 3600),
    "normal": (8 * 3600, 72 * 3600),
    "low": (24 * 3600, 7 * 24 * 3600),
}
ACTIONS = (
    ("purchase", "Purchase (per currency unit)", 1),
    ("product_video", "Watched a product video", 5),
    ("app_install", "Installed the app", 20),
    ("social_share", "Shared on social media", 10),
    ("blog_subscription", "Subscribed to the blog", 10),
    ("newsletter_subscription", "Subscribed to the newsletter", 10),
    ("goodwill", "Goodwill granted by an agent", 0),
)


def upgrade() -> None:
    op.create_table(
        "agents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.CheckConstraint("role IN ('agent', 'supervisor')", name=op.f("ck_agents_role")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agents")),
        sa.UniqueConstraint("name", name=op.f("uq_agents_name")),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("agent", sa.String(), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("entity", sa.String(), nullable=False),
        sa.Column("entity_ref", sa.String(), nullable=False),
        sa.Column("before", sa.String(), nullable=True),
        sa.Column("after", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_log_at"), ["at"], unique=False)
        batch_op.create_index(
            "ix_audit_log_entity_entity_ref", ["entity", "entity_ref"], unique=False
        )

    op.create_table(
        "categories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("label", sa.String(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_categories")),
        sa.UniqueConstraint("key", name=op.f("uq_categories_key")),
    )
    op.create_table(
        "customers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ref", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("email", sa.String(), nullable=True),
        sa.Column("phone", sa.String(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customers")),
        sa.UniqueConstraint("ref", name=op.f("uq_customers_ref")),
    )
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_customers_email"), ["email"], unique=False)
        batch_op.create_index(batch_op.f("ix_customers_phone"), ["phone"], unique=False)

    op.create_table(
        "loyalty_actions",
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("label", sa.String(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_loyalty_actions")),
    )
    op.create_table(
        "sla_targets",
        sa.Column("priority", sa.String(), nullable=False),
        sa.Column("first_response_s", sa.Integer(), nullable=False),
        sa.Column("resolution_s", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "priority IN ('urgent', 'high', 'normal', 'low')", name=op.f("ck_sla_targets_priority")
        ),
        sa.PrimaryKeyConstraint("priority", name=op.f("pk_sla_targets")),
    )
    op.create_table(
        "complaints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ref", sa.String(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.BigInteger(), nullable=False),
        sa.Column("category_id", sa.Integer(), nullable=False),
        sa.Column("detail", sa.String(), nullable=True),
        sa.Column("priority", sa.String(), nullable=False),
        sa.Column("channel", sa.String(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("first_response_at", sa.BigInteger(), nullable=True),
        sa.Column("resolved_at", sa.BigInteger(), nullable=True),
        sa.Column("summary", sa.String(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=True),
        sa.Column("updated_by", sa.String(), nullable=True),
        sa.CheckConstraint(
            "(status = 'resolved') = (resolved_at IS NOT NULL)",
            name=op.f("ck_complaints_resolved_status"),
        ),
        sa.CheckConstraint(
            "channel IN ('phone', 'email', 'chat', 'web', 'in_person')",
            name=op.f("ck_complaints_channel"),
        ),
        sa.CheckConstraint(
            "priority IN ('urgent', 'high', 'normal', 'low')", name=op.f("ck_complaints_priority")
        ),
        sa.CheckConstraint(
            "status IN ('open', 'pending', 'resolved')", name=op.f("ck_complaints_status")
        ),
        sa.CheckConstraint(
            "first_response_at IS NULL OR first_response_at >= received_at",
            name=op.f("ck_complaints_response_after_received"),
        ),
        sa.CheckConstraint(
            "resolved_at IS NULL OR first_response_at IS NULL OR resolved_at >= first_response_at",
            name=op.f("ck_complaints_resolved_after_response"),
        ),
        sa.CheckConstraint(
            "resolved_at IS NULL OR resolved_at >= received_at",
            name=op.f("ck_complaints_resolved_after_received"),
        ),
        sa.ForeignKeyConstraint(
            ["category_id"], ["categories.id"], name=op.f("fk_complaints_category_id_categories")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_complaints_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["agents.id"], name=op.f("fk_complaints_owner_id_agents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_complaints")),
        sa.UniqueConstraint("ref", name=op.f("uq_complaints_ref")),
    )
    with op.batch_alter_table("complaints", schema=None) as batch_op:
        batch_op.create_index(
            "ix_complaints_category_id_received_at", ["category_id", "received_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_complaints_customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_complaints_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_complaints_received_at"), ["received_at"], unique=False
        )
        batch_op.create_index(
            "ix_complaints_status_received_at", ["status", "received_at"], unique=False
        )

    op.create_table(
        "lifecycle_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("reason_id", sa.Integer(), nullable=True),
        sa.Column("detail", sa.String(), nullable=True),
        sa.CheckConstraint(
            "(kind = 'left') = (reason_id IS NOT NULL)",
            name=op.f("ck_lifecycle_events_reason_only_when_left"),
        ),
        sa.CheckConstraint(
            "kind IN ('acquired', 'left', 'won_back')", name=op.f("ck_lifecycle_events_kind")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_lifecycle_events_customer_id_customers"),
        ),
        sa.ForeignKeyConstraint(
            ["reason_id"], ["categories.id"], name=op.f("fk_lifecycle_events_reason_id_categories")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lifecycle_events")),
        sa.UniqueConstraint("customer_id", "at", name=op.f("uq_lifecycle_events_customer_id_at")),
    )
    with op.batch_alter_table("lifecycle_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_lifecycle_events_customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index("ix_lifecycle_events_kind_at", ["kind", "at"], unique=False)

    op.create_table(
        "points_ledger",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ref", sa.String(), nullable=True),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.id"], name=op.f("fk_points_ledger_agent_id_agents")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_points_ledger_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_points_ledger")),
        sa.UniqueConstraint("ref", name=op.f("uq_points_ledger_ref")),
    )
    with op.batch_alter_table("points_ledger", schema=None) as batch_op:
        batch_op.create_index(
            "ix_points_ledger_customer_id_at", ["customer_id", "at"], unique=False
        )

    op.create_table(
        "purchases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ref", sa.String(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_purchases_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_purchases")),
        sa.UniqueConstraint("ref", name=op.f("uq_purchases_ref")),
    )
    with op.batch_alter_table("purchases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_purchases_at"), ["at"], unique=False)
        batch_op.create_index("ix_purchases_customer_id_at", ["customer_id", "at"], unique=False)

    op.create_table(
        "calls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ref", sa.String(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(), nullable=False),
        sa.Column("direction", sa.String(), nullable=False),
        sa.Column("started_at", sa.BigInteger(), nullable=False),
        sa.Column("ended_at", sa.BigInteger(), nullable=True),
        sa.Column("notes", sa.String(), nullable=False),
        sa.Column("complaint_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "channel IN ('phone', 'email', 'chat', 'web', 'in_person')",
            name=op.f("ck_calls_channel"),
        ),
        sa.CheckConstraint("direction IN ('inbound', 'outbound')", name=op.f("ck_calls_direction")),
        sa.CheckConstraint(
            "ended_at IS NULL OR ended_at >= started_at", name=op.f("ck_calls_ends_after_start")
        ),
        sa.ForeignKeyConstraint(["agent_id"], ["agents.id"], name=op.f("fk_calls_agent_id_agents")),
        sa.ForeignKeyConstraint(
            ["complaint_id"], ["complaints.id"], name=op.f("fk_calls_complaint_id_complaints")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_calls_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calls")),
        sa.UniqueConstraint("ref", name=op.f("uq_calls_ref")),
    )
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.create_index(
            "ix_calls_agent_id_started_at", ["agent_id", "started_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_calls_complaint_id"), ["complaint_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_calls_customer_id"), ["customer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_calls_started_at"), ["started_at"], unique=False)

    _seed()


def _seed() -> None:
    """The defaults SPEC.md names: seven leave-reasons, SLA targets, loyalty actions."""
    categories = sa.table(
        "categories",
        sa.column("key"),
        sa.column("label"),
        sa.column("active"),
        sa.column("position"),
    )
    op.bulk_insert(
        categories,
        [
            {"key": key, "label": label, "active": True, "position": index}
            for index, (key, label) in enumerate(CATEGORIES)
        ],
    )
    sla = sa.table(
        "sla_targets",
        sa.column("priority"),
        sa.column("first_response_s"),
        sa.column("resolution_s"),
    )
    op.bulk_insert(
        sla,
        [
            {"priority": priority, "first_response_s": first, "resolution_s": resolution}
            for priority, (first, resolution) in SLA.items()
        ],
    )
    actions = sa.table("loyalty_actions", sa.column("key"), sa.column("label"), sa.column("points"))
    op.bulk_insert(
        actions, [{"key": key, "label": label, "points": points} for key, label, points in ACTIONS]
    )


def downgrade() -> None:
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_calls_started_at"))
        batch_op.drop_index(batch_op.f("ix_calls_customer_id"))
        batch_op.drop_index(batch_op.f("ix_calls_complaint_id"))
        batch_op.drop_index("ix_calls_agent_id_started_at")

    op.drop_table("calls")
    with op.batch_alter_table("purchases", schema=None) as batch_op:
        batch_op.drop_index("ix_purchases_customer_id_at")
        batch_op.drop_index(batch_op.f("ix_purchases_at"))

    op.drop_table("purchases")
    with op.batch_alter_table("points_ledger", schema=None) as batch_op:
        batch_op.drop_index("ix_points_ledger_customer_id_at")

    op.drop_table("points_ledger")
    with op.batch_alter_table("lifecycle_events", schema=None) as batch_op:
        batch_op.drop_index("ix_lifecycle_events_kind_at")
        batch_op.drop_index(batch_op.f("ix_lifecycle_events_customer_id"))

    op.drop_table("lifecycle_events")
    with op.batch_alter_table("complaints", schema=None) as batch_op:
        batch_op.drop_index("ix_complaints_status_received_at")
        batch_op.drop_index(batch_op.f("ix_complaints_received_at"))
        batch_op.drop_index(batch_op.f("ix_complaints_owner_id"))
        batch_op.drop_index(batch_op.f("ix_complaints_customer_id"))
        batch_op.drop_index("ix_complaints_category_id_received_at")

    op.drop_table("complaints")
    op.drop_table("sla_targets")
    op.drop_table("loyalty_actions")
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_customers_phone"))
        batch_op.drop_index(batch_op.f("ix_customers_email"))

    op.drop_table("customers")
    op.drop_table("categories")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_log_entity_entity_ref")
        batch_op.drop_index(batch_op.f("ix_audit_log_at"))

    op.drop_table("audit_log")
    op.drop_table("agents")
