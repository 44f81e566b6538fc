"""Indexes that keep the side panels, the lists and the customer lookup fast on a big desk.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


# --- side panels: each purchase knows when its customer bought the time before ---------------
# ``purchases.prev_at`` lets the revenue panel tell new, returning and revived buyers from a few
# index range scans over a month's purchases. The database keeps it right itself, on every
# insert, delete and change of a purchase's time or customer, whichever path writes (the desk,
# imports, merges, erasures, copies, the demo, plain SQL).

_PREVIOUS = (
    "(SELECT q.at FROM purchases AS q WHERE q.customer_id = purchases.customer_id "
    "AND (q.at < purchases.at OR (q.at = purchases.at AND q.id < purchases.id)) "
    "ORDER BY q.at DESC, q.id DESC LIMIT 1)"
)


def _rechain(customer: str, since: str) -> str:
    """SQL that recomputes ``prev_at`` of ``customer``'s purchases from ``since`` on."""
    return (
        f"UPDATE purchases SET prev_at = {_PREVIOUS} "
        f"WHERE purchases.customer_id = {customer} AND purchases.at >= {since};"
    )


_SQLITE_CHAIN_TRIGGERS = {
    "purchases_chain_insert": ("AFTER INSERT", _rechain("NEW.customer_id", "NEW.at")),
    "purchases_chain_delete": ("AFTER DELETE", _rechain("OLD.customer_id", "OLD.at")),
    "purchases_chain_update": (
        "AFTER UPDATE OF at, customer_id",
        _rechain("OLD.customer_id", "OLD.at") + " " + _rechain("NEW.customer_id", "NEW.at"),
    ),
}

# PostgreSQL: concurrent writers of one customer's purchases take turns (an advisory lock held
# until commit), so that each recomputation sees the other's committed rows.
_PG_CHAIN_FUNCTION = f"""
CREATE OR REPLACE FUNCTION purchases_chain() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        PERFORM pg_advisory_xact_lock(hashtext('purchases_chain'), OLD.customer_id);
        {_rechain("OLD.customer_id", "OLD.at")}
    END IF;
    IF TG_OP <> 'DELETE' THEN
        PERFORM pg_advisory_xact_lock(hashtext('purchases_chain'), NEW.customer_id);
        {_rechain("NEW.customer_id", "NEW.at")}
    END IF;
    RETURN NULL;
END $$
"""

_BACKFILL_CHAIN = (
    "UPDATE purchases SET prev_at = chain.previous FROM ("
    "SELECT id, lag(at) OVER (PARTITION BY customer_id ORDER BY at, id) AS previous "
    "FROM purchases) AS chain "
    "WHERE chain.id = purchases.id AND chain.previous IS NOT NULL"
)


# --- side panels: lifecycle events counted per UTC day ----------------------------------------
# ``lifecycle_days`` holds how many events of each kind fall on each UTC day, so that the
# retention panel counts a year of events from a few hundred rows (plus the events of the
# partial day before each local midnight). The database keeps it right itself, like prev_at.


def _day(at: str) -> str:
    """SQL for the UTC midnight starting the day of ``at`` (rounded down, also before 1970)."""
    return f"({at} - ((({at}) % 86400) + 86400) % 86400)"


def _count_in(row: str) -> str:
    return (
        f"INSERT INTO lifecycle_days (kind, day, events) VALUES ({row}.kind, {_day(row + '.at')}, 1) "
        "ON CONFLICT (kind, day) DO UPDATE SET events = lifecycle_days.events + 1;"
    )


def _count_out(row: str) -> str:
    where = f"kind = {row}.kind AND day = {_day(row + '.at')}"
    return (
        f"UPDATE lifecycle_days SET events = events - 1 WHERE {where}; "
        f"DELETE FROM lifecycle_days WHERE {where} AND events = 0;"
    )


_SQLITE_DAY_TRIGGERS = {
    "lifecycle_days_insert": ("AFTER INSERT", _count_in("NEW")),
    "lifecycle_days_delete": ("AFTER DELETE", _count_out("OLD")),
    "lifecycle_days_update": (
        "AFTER UPDATE OF at, kind",
        _count_out("OLD") + " " + _count_in("NEW"),
    ),
}

_PG_DAY_FUNCTION = f"""
CREATE OR REPLACE FUNCTION lifecycle_days_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        {_count_out("OLD")}
    END IF;
    IF TG_OP <> 'DELETE' THEN
        {_count_in("NEW")}
    END IF;
    RETURN NULL;
END $$
"""

_BACKFILL_DAYS = (
    "INSERT INTO lifecycle_days (kind, day, events) "
    f"SELECT kind, {_day('at')}, count(*) FROM lifecycle_events GROUP BY 1, 2"
)


def _lifecycle_days_upgrade() -> None:
    op.create_table(
        "lifecycle_days",
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("day", sa.BigInteger(), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "day", name=op.f("pk_lifecycle_days")),
    )
    op.execute(_BACKFILL_DAYS)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_DAY_FUNCTION)
        op.execute(
            "CREATE TRIGGER lifecycle_days_count AFTER INSERT OR DELETE OR UPDATE OF at, kind "
            "ON lifecycle_events FOR EACH ROW EXECUTE FUNCTION lifecycle_days_count()"
        )
    else:
        for name, (when, body) in _SQLITE_DAY_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {when} ON lifecycle_events BEGIN {body} END")


def _lifecycle_days_downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS lifecycle_days_count ON lifecycle_events")
        op.execute("DROP FUNCTION IF EXISTS lifecycle_days_count()")
    else:
        for name in _SQLITE_DAY_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_table("lifecycle_days")


def _side_panels_upgrade() -> None:
    _lifecycle_days_upgrade()
    op.execute("ALTER TABLE purchases ADD COLUMN prev_at BIGINT")
    op.execute(_BACKFILL_CHAIN)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_CHAIN_FUNCTION)
        op.execute(
            "CREATE TRIGGER purchases_chain AFTER INSERT OR DELETE OR UPDATE OF at, customer_id "
            "ON purchases FOR EACH ROW EXECUTE FUNCTION purchases_chain()"
        )
    else:
        for name, (when, body) in _SQLITE_CHAIN_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {when} ON purchases BEGIN {body} END")
    op.create_index(
        "ix_purchases_at_prev_at_amount_cents", "purchases", ["at", "prev_at", "amount_cents"]
    )
    op.create_index(
        "ix_purchases_prev_at_at_amount_cents_customer_id",
        "purchases",
        ["prev_at", "at", "amount_cents", "customer_id"],
    )
    op.create_index(
        "ix_purchases_customer_id_at_prev_at", "purchases", ["customer_id", "at", "prev_at"]
    )
    # An agent's unresolved complaints, counted from the index alone.
    op.create_index(
        "ix_complaints_owner_id_resolved_at_received_at",
        "complaints",
        ["owner_id", "resolved_at", "received_at"],
    )


def _side_panels_downgrade() -> None:
    op.drop_index("ix_complaints_owner_id_resolved_at_received_at", table_name="complaints")
    op.drop_index("ix_purchases_customer_id_at_prev_at", table_name="purchases")
    op.drop_index("ix_purchases_prev_at_at_amount_cents_customer_id", table_name="purchases")
    op.drop_index("ix_purchases_at_prev_at_amount_cents", table_name="purchases")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS purchases_chain ON purchases")
        op.execute("DROP FUNCTION IF EXISTS purchases_chain()")
    else:
        for name in _SQLITE_CHAIN_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.execute("ALTER TABLE purchases DROP COLUMN prev_at")
    _lifecycle_days_downgrade()


def upgrade() -> None:
    # --- side panels ---
    _side_panels_upgrade()
    # --- queue and call list ---
    # --- customer lookup ---
    # Building the lookup's index reads every name in order: from this index, not a sort.
    op.create_index("ix_customers_name", "customers", ["name"])


def downgrade() -> None:
    # --- side panels ---
    _side_panels_downgrade()
    # --- queue and call list ---
    # --- customer lookup ---
    op.drop_index("ix_customers_name", table_name="customers")
