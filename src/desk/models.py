"""desk's tables (SQLModel) and the plain models that cross the store's boundary.

Instants are stored as whole seconds since 1970 in UTC (``Instant``): the same on SQLite and
PostgreSQL, cheap to compare and subtract in SQL, and never ambiguous about their zone.
Money is stored in cents so that sums are exact.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict
from sqlalchemy.engine import Dialect
from sqlmodel import Field, SQLModel

# The vocabularies and money helpers live apart, so that code which only shows records loads
# neither SQLModel nor SQLAlchemy; they are part of this module's names as before.
from desk.kinds import Channel as Channel
from desk.kinds import Direction as Direction
from desk.kinds import LifecycleKind as LifecycleKind
from desk.kinds import Priority as Priority
from desk.kinds import Role as Role
from desk.kinds import Status as Status
from desk.money import cents as cents
from desk.money import from_cents as from_cents

# Naming convention so that constraints have stable names across engines and migrations.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Instant(sa.types.TypeDecorator[datetime]):
    """An aware datetime stored as integer seconds since 1970 (UTC)."""

    impl = sa.BigInteger
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> int | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("desk stores aware instants only; got a naive datetime")
        return int(value.timestamp())

    def process_result_value(self, value: int | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return datetime.fromtimestamp(int(value), UTC)


def _one_of(column: str, enum: type[StrEnum]) -> str:
    values = ", ".join(f"'{member.value}'" for member in enum)
    return f"{column} IN ({values})"


def _instant(**kwargs: Any) -> Any:
    return Field(sa_type=Instant, **kwargs)


# --- tables ---------------------------------------------------------------------------------


class Agent(SQLModel, table=True):
    """A person who works the desk."""

    __tablename__: ClassVar[str] = "agents"
    __table_args__ = (sa.CheckConstraint(_one_of("role", Role), name="role"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_column_kwargs={"unique": True, "nullable": False})
    role: str = Field(default=Role.agent.value)
    active: bool = Field(default=True)


class Category(SQLModel, table=True):
    """A leave-reason category: what a complaint threatens, or why a customer left."""

    __tablename__: ClassVar[str] = "categories"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(sa_column_kwargs={"unique": True, "nullable": False})
    label: str
    active: bool = Field(default=True)
    position: int = Field(default=0)


class Customer(SQLModel, table=True):
    """A person or company that buys."""

    __tablename__: ClassVar[str] = "customers"

    id: int | None = Field(default=None, primary_key=True)
    ref: str = Field(sa_column_kwargs={"unique": True, "nullable": False})
    name: str = Field(index=True)  # the customer lookup reads the names in order
    email: str | None = Field(default=None, index=True)
    phone: str | None = Field(default=None, index=True)
    created_at: datetime = _instant()


class LifecycleEvent(SQLModel, table=True):
    """A customer acquired, lost (with a leave-reason) or won back at an instant."""

    __tablename__: ClassVar[str] = "lifecycle_events"
    __table_args__ = (
        sa.UniqueConstraint("customer_id", "at"),
        sa.CheckConstraint(_one_of("kind", LifecycleKind), name="kind"),
        sa.CheckConstraint(
            "(kind = 'left') = (reason_id IS NOT NULL)", name="reason_only_when_left"
        ),
        sa.Index("ix_lifecycle_events_kind_at", "kind", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customers.id", index=True)
    at: datetime = _instant()
    kind: str
    reason_id: int | None = Field(default=None, foreign_key="categories.id")
    detail: str | None = None


class LifecycleDay(SQLModel, table=True):
    """How many lifecycle events of one kind fall on one UTC day, for counting without reading
    every event. Kept by the database itself (triggers) on every insert, delete and change of an
    event's time or kind, whoever writes: desk never writes it, and a copy rebuilds it."""

    __tablename__: ClassVar[str] = "lifecycle_days"

    kind: str = Field(primary_key=True)
    day: int = Field(primary_key=True, sa_type=sa.BigInteger)
    """The UTC midnight starting the day, in seconds since 1970."""
    events: int


class Complaint(SQLModel, table=True):
    """A concern a customer raised, filed under the leave-reason it threatens."""

    __tablename__: ClassVar[str] = "complaints"
    __table_args__ = (
        sa.CheckConstraint(_one_of("priority", Priority), name="priority"),
        sa.CheckConstraint(_one_of("channel", Channel), name="channel"),
        sa.CheckConstraint(_one_of("status", Status), name="status"),
        sa.CheckConstraint(
            "first_response_at IS NULL OR first_response_at >= received_at",
            name="response_after_received",
        ),
        sa.CheckConstraint(
            "resolved_at IS NULL OR resolved_at >= received_at", name="resolved_after_received"
        ),
        sa.CheckConstraint(
            "resolved_at IS NULL OR first_response_at IS NULL OR resolved_at >= first_response_at",
            name="resolved_after_response",
        ),
        sa.CheckConstraint(
            "(status = 'resolved') = (resolved_at IS NOT NULL)", name="resolved_status"
        ),
        sa.Index("ix_complaints_status_received_at", "status", "received_at"),
        sa.Index("ix_complaints_category_id_received_at", "category_id", "received_at"),
        # An agent's unresolved complaints, counted from the index alone (the open load).
        sa.Index(
            "ix_complaints_owner_id_resolved_at_received_at",
            "owner_id",
            "resolved_at",
            "received_at",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    ref: str = Field(sa_column_kwargs={"unique": True, "nullable": False})
    customer_id: int = Field(foreign_key="customers.id", index=True)
    received_at: datetime = _instant(index=True)
    category_id: int = Field(foreign_key="categories.id")
    detail: str | None = None
    priority: str = Field(default=Priority.normal.value)
    channel: str = Field(default=Channel.phone.value)
    owner_id: int | None = Field(default=None, foreign_key="agents.id", index=True)
    status: str = Field(default=Status.open.value)
    first_response_at: datetime | None = _instant(default=None)
    resolved_at: datetime | None = _instant(default=None)
    summary: str = Field(default="")
    # Optimistic lock: every update states the version it was based on and bumps it.
    version: int = Field(default=1)
    updated_at: datetime | None = _instant(default=None)
    updated_by: str | None = None


class Call(SQLModel, table=True):
    """One logged contact with a customer."""

    __tablename__: ClassVar[str] = "calls"
    __table_args__ = (
        sa.CheckConstraint(_one_of("channel", Channel), name="channel"),
        sa.CheckConstraint(_one_of("direction", Direction), name="direction"),
        sa.CheckConstraint("ended_at IS NULL OR ended_at >= started_at", name="ends_after_start"),
        sa.Index("ix_calls_agent_id_started_at", "agent_id", "started_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    ref: str = Field(sa_column_kwargs={"unique": True, "nullable": False})
    customer_id: int = Field(foreign_key="customers.id", index=True)
    agent_id: int = Field(foreign_key="agents.id")
    channel: str = Field(default=Channel.phone.value)
    direction: str = Field(default=Direction.inbound.value)
    started_at: datetime = _instant(index=True)
    ended_at: datetime | None = _instant(default=None)
    notes: str = Field(default="")
    complaint_id: int | None = Field(default=None, foreign_key="complaints.id", index=True)


class ComplaintNote(SQLModel, table=True):
    """A note an agent added to a complaint's history."""

    __tablename__: ClassVar[str] = "complaint_notes"

    id: int | None = Field(default=None, primary_key=True)
    complaint_id: int = Field(foreign_key="complaints.id", index=True)
    at: datetime = _instant()
    agent: str
    text: str


class Purchase(SQLModel, table=True):
    """A purchase (negative for a cancellation), in cents."""

    __tablename__: ClassVar[str] = "purchases"
    __table_args__ = (
        sa.Index("ix_purchases_customer_id_at", "customer_id", "at"),
        # The revenue equation of a month, read from these indexes alone: all of the month's
        # purchases by time, the first-ever and repeat purchases by ``prev_at``, and for a
        # repeat purchase the buyer's first purchase of the month.
        sa.Index("ix_purchases_at_prev_at_amount_cents", "at", "prev_at", "amount_cents"),
        sa.Index(
            "ix_purchases_prev_at_at_amount_cents_customer_id",
            "prev_at",
            "at",
            "amount_cents",
            "customer_id",
        ),
        sa.Index("ix_purchases_customer_id_at_prev_at", "customer_id", "at", "prev_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    ref: str = Field(sa_column_kwargs={"unique": True, "nullable": False})
    customer_id: int = Field(foreign_key="customers.id")
    at: datetime = _instant(index=True)
    amount_cents: int = Field(sa_type=sa.BigInteger)
    prev_at: datetime | None = _instant(default=None)
    """When the same customer bought the time before (purchases ordered by time, then id; None
    for their first). Kept by the database itself (triggers) on every insert, delete and change
    of time or customer, whoever writes: desk never sets it."""


class LoyaltyAction(SQLModel, table=True):
    """An action that earns points; for ``purchase`` the points are per currency unit."""

    __tablename__: ClassVar[str] = "loyalty_actions"

    key: str = Field(primary_key=True)
    label: str
    points: int


class PointsEntry(SQLModel, table=True):
    """One line of a customer's loyalty ledger (append-only)."""

    __tablename__: ClassVar[str] = "points_ledger"
    __table_args__ = (sa.Index("ix_points_ledger_customer_id_at", "customer_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    ref: str | None = Field(default=None, sa_column_kwargs={"unique": True})
    customer_id: int = Field(foreign_key="customers.id")
    at: datetime = _instant()
    action: str
    points: int
    reason: str = Field(default="")
    agent_id: int | None = Field(default=None, foreign_key="agents.id")


class SlaTarget(SQLModel, table=True):
    """Response-time targets for one priority, in seconds."""

    __tablename__: ClassVar[str] = "sla_targets"
    __table_args__ = (sa.CheckConstraint(_one_of("priority", Priority), name="priority"),)

    priority: str = Field(primary_key=True)
    first_response_s: int
    resolution_s: int


class AuditEntry(SQLModel, table=True):
    """One change, as it was made: who, when, what, before and after (append-only)."""

    __tablename__: ClassVar[str] = "audit_log"
    __table_args__ = (sa.Index("ix_audit_log_entity_entity_ref", "entity", "entity_ref"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _instant(index=True)
    agent: str
    action: str
    entity: str
    entity_ref: str
    before: str | None = None
    after: str | None = None


class Presence(SQLModel, table=True):
    """A desk that has a complaint open right now (a heartbeat; stale rows mean nothing)."""

    __tablename__: ClassVar[str] = "presence"

    desk_id: str = Field(primary_key=True)
    complaint_ref: str = Field(primary_key=True, index=True)
    agent: str
    seen_at: datetime = _instant()


class ChangeCount(SQLModel, table=True):
    """How many saves this SQLite database has committed: desks compare it to tell a change of
    data from a presence heartbeat (both move SQLite's own change mark). One row, id 1."""

    __tablename__: ClassVar[str] = "change_count"

    id: int = Field(primary_key=True)
    saves: int = Field(sa_column=sa.Column(sa.BigInteger(), nullable=False))


class ErasedRef(SQLModel, table=True):
    """The digest of a ref an erased customer had, so that no import brings them back.

    Only a SHA-256 digest is kept, never the ref itself: desk can tell whether a ref it is given
    belonged to someone erased, but cannot list who was erased."""

    __tablename__: ClassVar[str] = "erased_refs"

    digest: str = Field(primary_key=True)
    erased_at: datetime = _instant()


class Meta(SQLModel, table=True):
    """Facts about the database itself (for example the instant a demo story ends)."""

    __tablename__: ClassVar[str] = "meta"

    key: str = Field(primary_key=True)
    value: str


# --- defaults (SPEC) -------------------------------------------------------------------------

DEFAULT_CATEGORIES: tuple[tuple[str, str], ...] = (
    ("competitor", "Lured away by a competitor or a lower price elsewhere"),
    ("service", "Disappointed by customer service"),
    ("product", "Disappointed by the product or service itself"),
    ("price", "Unhappy with our price"),
    ("no_need", "No longer wants or needs it"),
    ("moved", "Left the market / moved away"),
    ("other", "Other"),
)

HOUR = 3600
DEFAULT_SLA: dict[str, tuple[int, int]] = {
    Priority.urgent.value: (1 * HOUR, 8 * HOUR),
    Priority.high.value: (4 * HOUR, 24 * HOUR),
    Priority.normal.value: (8 * HOUR, 72 * HOUR),
    Priority.low.value: (24 * HOUR, 7 * 24 * HOUR),
}

DEFAULT_LOYALTY_ACTIONS: tuple[tuple[str, str, int], ...] = (
    ("purchase", "Purchase (per currency unit)", 1),
    ("product_video", "Watched a product video", 5),
    ("app_install", "Installed the app", 20),
    ("social_share", "Shared on social media", 10),
    ("blog_subscription", "Subscribed to the blog", 10),
    ("newsletter_subscription", "Subscribed to the newsletter", 10),
    ("goodwill", "Goodwill granted by an agent", 0),
)


# --- what crosses the store's boundary ------------------------------------------------------
# Create models are validated input; Read models are plain values that never hold a session.


class _Plain(BaseModel):
    model_config = ConfigDict(frozen=True, str_strip_whitespace=True)


class AgentRead(_Plain):
    """An agent as shown to people and scripts."""

    name: str
    role: Role
    active: bool


class CategoryRead(_Plain):
    """A leave-reason category."""

    key: str
    label: str
    active: bool


class CustomerCreate(_Plain):
    """A new customer; ``acquired_at`` records the ``acquired`` lifecycle event."""

    ref: str | None = None
    name: str
    email: str | None = None
    phone: str | None = None
    acquired_at: datetime | None = None


class CustomerRead(_Plain):
    """A customer with their current lifecycle state."""

    id: int
    ref: str
    name: str
    email: str | None
    phone: str | None
    created_at: datetime
    state: str | None = None


class LifecycleCreate(_Plain):
    """A lifecycle event to record; ``reason`` (a category key) is required for ``left``."""

    customer_ref: str
    at: datetime
    kind: LifecycleKind
    reason: str | None = None
    detail: str | None = None


class LifecycleRead(_Plain):
    """A recorded lifecycle event."""

    customer_ref: str
    at: datetime
    kind: LifecycleKind
    reason: str | None
    detail: str | None


class CallCreate(_Plain):
    """A call to log."""

    ref: str | None = None
    customer_ref: str
    agent: str
    channel: Channel = Channel.phone
    direction: Direction = Direction.inbound
    started_at: datetime
    ended_at: datetime | None = None
    notes: str = ""
    complaint_ref: str | None = None


class CallRead(_Plain):
    """A logged call."""

    ref: str
    customer_ref: str
    customer_name: str
    agent: str
    channel: Channel
    direction: Direction
    started_at: datetime
    ended_at: datetime | None
    notes: str
    complaint_ref: str | None


class ComplaintCreate(_Plain):
    """A complaint to open (or to import with its history)."""

    ref: str | None = None
    customer_ref: str
    received_at: datetime
    category: str
    detail: str | None = None
    priority: Priority = Priority.normal
    channel: Channel = Channel.phone
    owner: str | None = None
    first_response_at: datetime | None = None
    resolved_at: datetime | None = None
    summary: str = ""


class ComplaintRead(_Plain):
    """A complaint as the queue and reports see it."""

    ref: str
    customer_ref: str
    customer_name: str
    received_at: datetime
    category: str
    detail: str | None
    priority: Priority
    channel: Channel
    owner: str | None
    status: Status
    first_response_at: datetime | None
    resolved_at: datetime | None
    summary: str
    version: int
    updated_at: datetime | None
    updated_by: str | None


class PurchaseCreate(_Plain):
    """A purchase (negative amount for a cancellation)."""

    ref: str | None = None
    customer_ref: str
    at: datetime
    amount: Decimal


class PurchaseRead(_Plain):
    """A recorded purchase."""

    ref: str
    customer_ref: str
    at: datetime
    amount: Decimal


class PointsCreate(_Plain):
    """A loyalty ledger line; ``points`` defaults to the action's points."""

    ref: str | None = None
    customer_ref: str
    at: datetime
    action: str
    points: int | None = None
    reason: str = ""


class PointsRead(_Plain):
    """A loyalty ledger line."""

    ref: str | None
    customer_ref: str
    at: datetime
    action: str
    points: int
    reason: str
    agent: str | None


class AuditRead(_Plain):
    """One audit log entry."""

    at: datetime
    agent: str
    action: str
    entity: str
    entity_ref: str
    before: str | None
    after: str | None
