"""Sample data: a believable, reproducible story of a desk's customers, calls and purchases.

``build_demo`` fills an empty desk database with ``months`` months of history ending at ``end``:
agents; customers who are acquired (more of them every month), leave for a reason and are
sometimes won back; their calls and the complaints those calls open, answered mostly within the
SLA targets, some late, the most recent partly still open; purchases with new, returning and
revived buyers; and a loyalty ledger. The same seed, sizes and ``end`` always give the same rows.

Speed: the story is told in time order and only per-customer state is kept in memory; rows go
out in batches of ``CHUNK`` through the driver's bulk path (``executemany`` on SQLite, ``COPY``
on PostgreSQL with psycopg, Core ``insert()`` executemany elsewhere), all in one transaction so
that an interrupted build leaves the database as empty as it was.
"""

from __future__ import annotations

import calendar
import heapq
import json
import math
import random
import unicodedata
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from desk.db import display_url, write_session
from desk.errors import InvalidInput
from desk.models import DEFAULT_SLA

Progress = Callable[[str, int], None]
"""Called after every batch with a table's name and the rows written to it so far."""

T = TypeVar("T")

CHUNK = 50_000
SQLITE_CACHE_KIB = -131_072  # 128 MiB while the demo is written (negative: KiB, not pages)
MINUTE = 60
HOUR = 3_600
DAY = 86_400
MONTH = 2_629_746  # the average Gregorian month, in seconds
NEVER = 2**62

DEMO_AGENT = "desk demo"

# --- the story's proportions ------------------------------------------------------------------

PRE_WINDOW_SHARE = 0.18  # customers acquired in the year before the story starts (CS > 0)
GROWTH = 0.8  # the last month acquires 1 + GROWTH times as many customers as the first
CHURN_PER_MONTH = (0.012, 0.048)  # each customer's own monthly hazard of leaving
WIN_BACK_SHARE = 0.17  # of leavers; some win-backs fall after the end, ~15 % happen
WIN_BACK_DAYS = (14, 75)  # at least, then exponential with this mean
RELAPSE = 1.3  # a won-back customer leaves a little more readily
LEAVE_DETAIL_SHARE = 0.6

LEAVE_REASONS = {
    "competitor": 30,
    "service": 20,
    "product": 15,
    "price": 15,
    "no_need": 10,
    "moved": 7,
    "other": 3,
}
COMPLAINT_REASONS = {
    "service": 26,
    "product": 26,
    "price": 18,
    "competitor": 12,
    "other": 8,
    "no_need": 5,
    "moved": 5,
}
UNKNOWN_REASON_WEIGHT = 3  # categories a supervisor added

PRIORITIES = {"urgent": 5, "high": 20, "normal": 55, "low": 20}
UPSET_PRIORITIES = {"urgent": 8, "high": 32, "normal": 45, "low": 15}
CHANNELS = {"phone": 55, "email": 18, "chat": 15, "web": 10, "in_person": 5}
AFTER_HOURS_CHANNELS = {"email": 45, "web": 35, "chat": 20}
# (at least, median) seconds a contact on this channel takes to handle
DURATIONS = {
    "phone": (60, 6 * MINUTE),
    "email": (60, 4 * MINUTE),
    "chat": (120, 9 * MINUTE),
    "web": (60, 3 * MINUTE),
    "in_person": (180, 12 * MINUTE),
}
WORKING_HOURS = (8 * HOUR, 18 * HOUR)
IN_HOURS_SHARE = 0.85
WEEKEND_KEEP = 0.15

PLANNED_SHARE = 0.55  # of leavers: a complaint call in the weeks before they leave
PLANNED_CAP = 0.3  # of all calls
LEAVING_SOON = 120 * DAY
COMPLAINT_SHARE = 0.19
COMPLAINT_SHARE_LEAVING = 0.4
OWN_REASON_SHARE = 0.75  # a planned pre-leave complaint is filed under the reason they leave for
OWN_REASON_SHARE_SOON = 0.5
FOLLOW_UP_SHARE = 0.12
LIVELY = 1.35  # the last month's call volume, relative to its customer base

# first response and resolution as a share of the SLA target: lognormal (median, sigma);
# the medians put roughly one complaint in ten past its target
FIRST_RESPONSE = (0.28, 0.7)
RESOLUTION = (0.33, 0.65)
UPSET_SLOWDOWN = 1.6  # customers about to leave were served worse: part of why they leave
BACKLOG_DAYS = 7
BACKLOG_SHARE = 0.25  # of the complaints received in the last days: nobody has answered yet
GOODWILL_SHARE = {"urgent": 0.12, "high": 0.12, "normal": 0.03, "low": 0.02}
GOODWILL_POINTS = (50, 100, 100, 150, 200, 250, 300, 500)

PURCHASE_GAP_DAYS = (18.0, 55.0)  # each customer's usual gap between purchases
DORMANT_SHARE = 0.09
DORMANT_DAYS = (92.0, 220.0)
CANCEL_SHARE = 0.015
SPEND_MEDIAN = 40.0
CENT_ENDINGS = (0, 0, 50, 90, 95, 99)
# (action key, share of customers, most times per active period); once-only when most is 0
LOYALTY = (
    ("app_install", 0.30, 0),
    ("newsletter_subscription", 0.35, 0),
    ("blog_subscription", 0.12, 0),
    ("product_video", 0.35, 3),
    ("social_share", 0.18, 2),
)

# --- names and words --------------------------------------------------------------------------

AGENT_NAMES = (
    "Anna Berg",
    "Jonas Weber",
    "Leonie Fischer",
    "Mehmet Yılmaz",
    "Sofia Rossi",
    "Lukas Novak",
    "Clara Schneider",
    "David Kowalski",
    "Emma Hoffmann",
    "Felix Wagner",
    "Hannah Becker",
    "Jan Jansen",
    "Laura Martin",
    "Marco Bianchi",
    "Nina Petersen",
    "Paul Richter",
)
FIRST_NAMES = (
    "Anna", "Ben", "Clara", "David", "Elena", "Finn", "Greta", "Hugo", "Ida", "Jakob", "Karin",
    "Leon", "Marie", "Noah", "Olga", "Paul", "Rita", "Simon", "Tina", "Uwe", "Vera", "Walter",
    "Yasmin", "Zoe", "Ahmed", "Beatrix", "Carlos", "Dana", "Emil", "Fatma", "Georg", "Helga",
    "Ingrid", "Jürgen", "Katarzyna", "Lars", "Mia", "Nils", "Oskar", "Petra", "Renate", "Stefan",
    "Theo", "Ute", "Viktor", "Wiebke", "Aylin", "Björn", "Chiara", "Dirk", "Eva", "Frank",
    "Gül", "Heinz", "Irina", "Jana", "Klaus", "Lena", "Matteo", "Sabine",
)  # fmt: skip
LAST_NAMES = (
    "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz",
    "Hoffmann", "Koch", "Bauer", "Richter", "Klein", "Wolf", "Schröder", "Neumann", "Schwarz",
    "Zimmermann", "Braun", "Krüger", "Hofmann", "Hartmann", "Lange", "Schmitt", "Werner",
    "Krause", "Meier", "Lehmann", "Schmid", "Köhler", "Maier", "Herrmann", "Walter", "König",
    "Mayer", "Huber", "Kaiser", "Fuchs", "Peters", "Lang", "Scholz", "Möller", "Weiß", "Jung",
    "Hahn", "Vogel", "Friedrich", "Keller", "Günther", "Frank", "Berger", "Winkler", "Roth",
    "Beck", "Lorenz", "Baumann", "Franke", "Albrecht", "Yilmaz", "Kaya", "Nowak", "Rossi",
    "Novak", "Jensen", "Dubois",
)  # fmt: skip
COMPANY_FORMS = ("GmbH", "AG", "KG", "& Söhne", "Handel GmbH", "Service GmbH", "e.K.")
COMPANY_SHARE = 0.08
MAIL_DOMAINS = ("example.com", "example.org", "example.net", "mail.example", "post.example")
PHONE_PREFIXES = ("151", "160", "170", "171", "176", "30", "40", "89", "221", "69", "711")
NO_EMAIL_SHARE = 0.1
NO_PHONE_SHARE = 0.18

LEAVE_DETAILS = {
    "competitor": (
        "Switched to a cheaper offer elsewhere",
        "A competitor offered a discount for switching",
        "Found the same product for less",
        "Moved to a competitor's bundle",
    ),
    "service": (
        "Waited days for an answer",
        "Was passed between departments",
        "Complaint never really resolved",
        "Unhappy with how the last call went",
    ),
    "product": (
        "Product broke twice",
        "Missed features they needed",
        "Quality below expectations",
        "Deliveries arrived damaged",
    ),
    "price": (
        "Last price increase was too steep",
        "Too expensive for their budget now",
        "Fees no longer worth it",
    ),
    "no_need": ("No longer needs it", "Project finished", "Stopped using it"),
    "moved": ("Moved abroad", "Closed the business", "Moved out of the delivery area"),
    "other": ("No reason given", "Personal reasons", "Asked to close the account"),
}
COMPLAINT_SUMMARIES = {
    "competitor": (
        "Competitor offers the same for less",
        "Asks us to match a competitor's price",
        "Got a switching offer from a competitor",
        "Compares our plan with a rival's",
    ),
    "service": (
        "No answer to two e-mails",
        "Promised callback never came",
        "Waited 40 minutes on hold",
        "Different answers from different agents",
        "Refund still not processed",
    ),
    "product": (
        "Item stopped working after a week",
        "Wrong size delivered",
        "App keeps crashing",
        "Parts missing from the delivery",
        "Quality not as described",
    ),
    "price": (
        "Invoice higher than expected",
        "Unhappy with the new prices",
        "Charged twice this month",
        "Shipping costs too high",
    ),
    "no_need": (
        "Wants to cancel the subscription",
        "Asks how to pause the contract",
        "Does not use the service any more",
    ),
    "moved": (
        "Moving abroad, asks about delivery",
        "Address change not possible online",
        "Closing the shop next month",
    ),
    "other": (
        "Unclear letter received",
        "Cannot log in to the customer account",
        "Asks for their data to be deleted",
    ),
}
GENERIC_SUMMARIES = ("Unhappy customer, see notes",)
COMPLAINT_QUOTES = (
    "I expected better from you.",
    "This is the second time this happens.",
    "Please call me back today.",
    "I am thinking about cancelling.",
    "Nobody seems to feel responsible.",
    "I have been a customer for years.",
)
COMPLAINT_DETAIL_SHARE = 0.35
CALL_NOTES_IN = (
    "Asked about the delivery date",
    "Changed the billing address",
    "Question about an invoice",
    "Wanted product advice",
    "Order status enquiry",
    "Asked for a copy of the invoice",
    "Updated the phone number",
    "Asked about opening hours",
    "Interested in an upgrade",
    "Asked how to use the loyalty points",
)
CALL_NOTES_OUT = (
    "Called back about an order",
    "Courtesy call after delivery",
    "Offered the new loyalty bonus",
    "Checked satisfaction after a repair",
)
FOLLOW_UP_IN = (
    "Asked for an update on {ref}",
    "Chased {ref}, still waiting",
    "Sent more details for {ref}",
)
FOLLOW_UP_OUT = (
    "Called with an update on {ref}",
    "Asked for photos for {ref}",
    "Explained the next steps on {ref}",
)
GOODWILL_REASONS = ("late answer", "sorry for the trouble", "damaged delivery", "long wait")


# --- the result -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoSummary:
    """What ``build_demo`` wrote, and the span of the story it tells."""

    seed: int
    start: datetime
    end: datetime
    agents: int
    customers: int
    lifecycle_events: int
    left: int
    won_back: int
    calls: int
    complaints: int
    open_complaints: int
    purchases: int
    points_entries: int

    def to_json(self) -> dict[str, Any]:
        """This summary as JSON-ready values (instants in ISO 8601)."""
        return {
            key: value.isoformat() if isinstance(value, datetime) else value
            for key, value in asdict(self).items()
        }


# --- small tools ------------------------------------------------------------------------------


class _Picker(Generic[T]):
    """Weighted random choice among fixed items, by bisecting cumulative weights."""

    def __init__(self, items: Sequence[T], weights: Sequence[float]) -> None:
        if not items or len(items) != len(weights):
            raise ValueError("a picker needs as many weights as items, and at least one")
        self._items = tuple(items)
        self._cumulative: list[float] = []
        total = 0.0
        for weight in weights:
            total += weight
            self._cumulative.append(total)
        self._total = total

    def pick(self, rng: random.Random) -> T:
        """One item, chosen with probability proportional to its weight."""
        index = bisect_right(self._cumulative, rng.random() * self._total)
        return self._items[min(index, len(self._items) - 1)]


# random.Random's own randrange and lognormvariate are several times slower than these, which
# matters at a million calls; the stream of draws is just as reproducible.


def _below(rng: random.Random, n: int) -> int:
    """A whole number in ``[0, n)``."""
    return int(rng.random() * n)


def _between(rng: random.Random, lo: int, hi: int) -> int:
    """A whole number in ``[lo, hi)``."""
    return lo + int(rng.random() * (hi - lo))


def _lognormal(rng: random.Random, sigma: float) -> float:
    """A lognormal factor with median 1."""
    return math.exp(rng.gauss(0.0, sigma))


def _add_months(moment: datetime, months: int) -> datetime:
    """``moment`` moved by whole calendar months (the day clamped to the month's length)."""
    years, month0 = divmod(moment.month - 1 + months, 12)
    year = moment.year + years
    day = min(moment.day, calendar.monthrange(year, month0 + 1)[1])
    return moment.replace(year=year, month=month0 + 1, day=day)


def _allocate(total: int, weights: Sequence[float]) -> list[int]:
    """``total`` split into whole numbers proportional to ``weights`` (largest remainder)."""
    if not weights:
        return []
    whole = sum(weights)
    if whole <= 0:
        weights, whole = [1.0] * len(weights), float(len(weights))
    shares = [max(total, 0) * weight / whole for weight in weights]
    counts = [int(share) for share in shares]
    rest = max(total, 0) - sum(counts)
    by_remainder = sorted(range(len(weights)), key=lambda i: (counts[i] - shares[i], i))
    for index in by_remainder[:rest]:
        counts[index] += 1
    return counts


def _ascii(text: str) -> str:
    """``text`` reduced to lowercase a-z and 0-9 for e-mail addresses (ü -> ue, ß -> ss)."""
    text = text.lower()
    for umlaut, plain in (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("ß", "ss"), ("ı", "i")):
        text = text.replace(umlaut, plain)
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in folded if ch.isalnum())


def _within_hours(at: int) -> bool:
    """Whether ``at`` falls on a weekday during working hours (UTC)."""
    weekday = (at // DAY + 3) % 7  # 1970-01-01 was a Thursday; Monday is 0
    return weekday < 5 and WORKING_HOURS[0] <= at % DAY < WORKING_HOURS[1]


def _in_hours(rng: random.Random, lo: int, hi: int) -> int:
    """An instant in ``[lo, hi)``, mostly on weekdays during working hours (UTC)."""
    first_day, last_day = lo // DAY, (hi - 1) // DAY
    for _ in range(20):
        if rng.random() < IN_HOURS_SHARE:
            day = _between(rng, first_day, last_day + 1)
            weekday = (day + 3) % 7  # 1970-01-01 was a Thursday; Monday is 0
            if weekday >= 5 and rng.random() >= WEEKEND_KEEP:
                continue
            at = day * DAY + _between(rng, WORKING_HOURS[0], WORKING_HOURS[1])
        else:
            at = _between(rng, lo, hi)
        if lo <= at < hi:
            return at
    return _between(rng, lo, hi)


# --- writing ----------------------------------------------------------------------------------

_COLUMNS: dict[str, tuple[str, ...]] = {
    "customers": ("id", "ref", "name", "email", "phone", "created_at"),
    "lifecycle_events": ("customer_id", "at", "kind", "reason_id", "detail"),
    "purchases": ("id", "ref", "customer_id", "at", "amount_cents"),
    "complaints": (
        "id",
        "ref",
        "customer_id",
        "received_at",
        "category_id",
        "detail",
        "priority",
        "channel",
        "owner_id",
        "status",
        "first_response_at",
        "resolved_at",
        "summary",
        "version",
        "updated_at",
        "updated_by",
    ),
    "calls": (
        "id",
        "ref",
        "customer_id",
        "agent_id",
        "channel",
        "direction",
        "started_at",
        "ended_at",
        "notes",
        "complaint_id",
    ),
    "points_ledger": ("ref", "customer_id", "at", "action", "points", "reason", "agent_id"),
}
# Rows that refer to others go out only after them.
_WRITE_FIRST = {"calls": ("complaints",)}
# Tables whose ids the demo assigns itself (so that refs match ids, as the store makes them).
_OWN_IDS = ("customers", "complaints", "calls", "purchases")


class _Writer:
    """Buffers rows per table and writes them in big batches on one connection."""

    def __init__(self, connection: sa.Connection, progress: Progress | None) -> None:
        self._connection = connection
        self._progress = progress
        self._buffers: dict[str, list[tuple[Any, ...]]] = {name: [] for name in _COLUMNS}
        self.written: dict[str, int] = dict.fromkeys(_COLUMNS, 0)
        dialect = connection.dialect
        if dialect.name == "sqlite":
            self._mode = "executemany"
        elif dialect.name == "postgresql" and dialect.driver == "psycopg":
            self._mode = "copy"
        else:
            self._mode = "core"

    def add(self, table: str, row: tuple[Any, ...]) -> None:
        """Queue one row (values in ``_COLUMNS`` order); a full batch is written at once."""
        buffer = self._buffers[table]
        buffer.append(row)
        if len(buffer) >= CHUNK:
            self.flush(table)

    def flush(self, table: str) -> None:
        """Write the rows queued for ``table`` (and first those they refer to)."""
        for earlier in _WRITE_FIRST.get(table, ()):
            self.flush(earlier)
        rows = self._buffers[table]
        if not rows:
            return
        self._buffers[table] = []
        columns = _COLUMNS[table]
        names = ", ".join(columns)
        if self._mode == "core":
            target = sa.table(table, *(sa.column(name) for name in columns))
            self._connection.execute(
                target.insert(), [dict(zip(columns, r, strict=True)) for r in rows]
            )
        else:
            # The raw driver connection runs inside the transaction SQLAlchemy began.
            raw: Any = self._connection.connection.dbapi_connection
            cursor = raw.cursor()
            try:
                if self._mode == "copy":
                    with cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                        for row in rows:
                            copy.write_row(row)
                else:
                    marks = ", ".join("?" for _ in columns)
                    cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)
            finally:
                cursor.close()
        self.written[table] += len(rows)
        if self._progress is not None:
            self._progress(table, self.written[table])

    def flush_all(self) -> None:
        """Write every queued row."""
        for table in _COLUMNS:
            self.flush(table)


# --- the story --------------------------------------------------------------------------------

ACQUIRED, LEFT, WON_BACK = 0, 1, 2
KINDS = ("acquired", "left", "won_back")


@dataclass(frozen=True)
class _Category:
    """A leave-reason category as the demo uses it."""

    id: int
    key: str


@dataclass(frozen=True)
class _Agent:
    """An agent as the demo uses it."""

    id: int
    name: str
    role: str


class _Lifecycles:
    """Every customer's lifecycle events, per customer in time order, in flat arrays."""

    def __init__(self, customers: int) -> None:
        self.time = array("q")
        self.customer = array("l")
        self.kind = array("b")
        self.reason = array("l")  # index into the categories, -1 unless kind is LEFT
        self.detail = array("h")  # index into the reason's details, -1 for none
        self.first = array("l", [0]) * (customers + 1)  # events of c: first[c]:first[c + 1]

    def add(self, customer: int, at: int, kind: int, reason: int = -1, detail: int = -1) -> None:
        """Append one event of ``customer`` (events must come per customer, in time order)."""
        self.time.append(at)
        self.customer.append(customer)
        self.kind.append(kind)
        self.reason.append(reason)
        self.detail.append(detail)

    def close_customer(self, customer: int) -> None:
        """Mark the end of ``customer``'s events."""
        self.first[customer + 1] = len(self.time)

    def __len__(self) -> int:
        return len(self.time)

    def next_of(self, event: int) -> int:
        """The index of the same customer's next event, or -1."""
        following = event + 1
        if following < self.first[self.customer[event] + 1]:
            return following
        return -1


class _Story:
    """One demo build: the reference data it uses and the phases that write the rows."""

    def __init__(
        self,
        connection: sa.Connection,
        *,
        seed: int,
        customers: int,
        calls: int,
        months: int,
        end: datetime,
        agents: int,
        progress: Progress | None,
    ) -> None:
        self.connection = connection
        self.writer = _Writer(connection, progress)
        self.n_customers = customers
        self.n_calls = calls
        self.end = end
        self.end_s = int(end.timestamp())
        self.bounds = [int(_add_months(end, k - months).timestamp()) for k in range(months + 1)]
        self.start_s = self.bounds[0]
        self.pre_start_s = int(_add_months(end, -months - 12).timestamp())
        master = random.Random(seed)
        # One generator per phase, so that each phase's draws do not shift the others'.
        self.rng_people = random.Random(master.getrandbits(64))
        self.rng_life = random.Random(master.getrandbits(64))
        self.rng_buy = random.Random(master.getrandbits(64))
        self.rng_calls = random.Random(master.getrandbits(64))
        self.categories = self._categories()
        self.sla = self._sla()
        self.loyalty = self._loyalty()
        self.agents = self._agents(agents)
        self.leave_reasons = self.category_picker(LEAVE_REASONS)
        self.acquired_at = array("q")
        self.life = _Lifecycles(customers)
        self.left = 0
        self.won_back = 0
        self.open_complaints = 0

    # reference data

    def _categories(self) -> list[_Category]:
        table = SQLModel.metadata.tables["categories"]
        rows = self.connection.execute(
            sa.select(table.c.id, table.c.key)
            .where(table.c.active)
            .order_by(table.c.position, table.c.id)
        ).all()
        if not rows:
            raise InvalidInput(
                "the desk has no active leave-reason categories; run `desk init` on a new "
                "database to get the default ones, then build the demo"
            )
        return [_Category(id=int(row.id), key=str(row.key)) for row in rows]

    def _sla(self) -> dict[str, tuple[int, int]]:
        table = SQLModel.metadata.tables["sla_targets"]
        targets = dict(DEFAULT_SLA)
        for row in self.connection.execute(sa.select(table)).all():
            targets[str(row.priority)] = (int(row.first_response_s), int(row.resolution_s))
        return targets

    def _loyalty(self) -> dict[str, int]:
        table = SQLModel.metadata.tables["loyalty_actions"]
        rows = self.connection.execute(sa.select(table.c.key, table.c.points)).all()
        return {str(row.key): int(row.points) for row in rows}

    def _agents(self, count: int) -> list[_Agent]:
        names = list(AGENT_NAMES[:count])
        taken = set(names)
        k = 0
        while len(names) < count:
            first = FIRST_NAMES[k % len(FIRST_NAMES)]
            last = LAST_NAMES[(k * 7 + k // len(FIRST_NAMES)) % len(LAST_NAMES)]
            k += 1
            if f"{first} {last}" not in taken:
                names.append(f"{first} {last}")
                taken.add(f"{first} {last}")
        supervisors = 2 if count >= 6 else 1
        table = SQLModel.metadata.tables["agents"]
        existing = {
            str(row.name)
            for row in self.connection.execute(
                sa.select(table.c.name).where(table.c.name.in_(names))
            ).all()
        }
        new = [
            {"name": name, "role": "supervisor" if i < supervisors else "agent", "active": True}
            for i, name in enumerate(names)
            if name not in existing
        ]
        if new:
            self.connection.execute(table.insert(), new)
        rows = self.connection.execute(
            sa.select(table.c.id, table.c.name, table.c.role).where(table.c.name.in_(names))
        ).all()
        by_name = {str(row.name): _Agent(int(row.id), str(row.name), str(row.role)) for row in rows}
        return [by_name[name] for name in names]

    def category_picker(self, weights: dict[str, int]) -> _Picker[int]:
        """Picks a category index by key weights (categories a supervisor added get a few)."""
        return _Picker(
            range(len(self.categories)),
            [weights.get(c.key, UNKNOWN_REASON_WEIGHT) for c in self.categories],
        )

    # customers and their lifecycles

    def customers(self) -> None:
        """Write the customers, in the order they were acquired, and plan their lifecycles."""
        rng = self.rng_people
        n_pre = min(self.n_customers, max(1, round(self.n_customers * PRE_WINDOW_SHARE)))
        months = len(self.bounds) - 1
        growth = [1 + GROWTH * i / max(1, months - 1) for i in range(months)]
        per_month = _allocate(self.n_customers - n_pre, growth)
        # At least one customer predates the story, so that its first month starts with CS > 0.
        times = [_between(rng, self.pre_start_s, self.start_s) for _ in range(n_pre)]
        for month, count in enumerate(per_month):
            lo, hi = self.bounds[month], self.bounds[month + 1]
            times += [_between(rng, lo, hi) for _ in range(count)]
        times.sort()
        self.acquired_at = array("q", times)
        for index, at in enumerate(self.acquired_at):
            name, email, phone = self._person(index)
            self.writer.add("customers", (index + 1, f"CU-{index + 1:06d}", name, email, phone, at))
            self._lifecycle(index, at)
        self.writer.flush_all()

    def _person(self, index: int) -> tuple[str, str | None, str | None]:
        rng = self.rng_people
        first = FIRST_NAMES[_below(rng, len(FIRST_NAMES))]
        last = LAST_NAMES[_below(rng, len(LAST_NAMES))]
        number = index + 1
        if rng.random() < COMPANY_SHARE:
            name = f"{last} {COMPANY_FORMS[_below(rng, len(COMPANY_FORMS))]}"
            email = f"info{number}@{_ascii(last)}.example"
        else:
            name = f"{first} {last}"
            domain = MAIL_DOMAINS[_below(rng, len(MAIL_DOMAINS))]
            email = f"{_ascii(first)}.{_ascii(last)}{number}@{domain}"
        # A bijection of the customer number keeps phone numbers unique and scattered.
        digits = (number * 7_654_321 + 3_141_593) % 10_000_000
        phone = f"+49 {PHONE_PREFIXES[_below(rng, len(PHONE_PREFIXES))]} {digits:07d}"
        has_email = rng.random() >= NO_EMAIL_SHARE
        has_phone = rng.random() >= NO_PHONE_SHARE
        return name, email if has_email else None, phone if has_phone else None

    def _lifecycle(self, customer: int, acquired: int) -> None:
        rng = self.rng_life
        life = self.life
        reasons = self.leave_reasons
        life.add(customer, acquired, ACQUIRED)
        hazard = rng.uniform(*CHURN_PER_MONTH) / MONTH
        since = acquired
        while True:
            leave = since + max(DAY, int(rng.expovariate(hazard)))
            if leave >= self.end_s:
                break
            reason = reasons.pick(rng)
            details = LEAVE_DETAILS.get(self.categories[reason].key, ())
            detail = (
                _below(rng, len(details)) if details and rng.random() < LEAVE_DETAIL_SHARE else -1
            )
            life.add(customer, leave, LEFT, reason, detail)
            self.left += 1
            if rng.random() >= WIN_BACK_SHARE:
                break
            back = (
                leave + WIN_BACK_DAYS[0] * DAY + int(rng.expovariate(1 / (WIN_BACK_DAYS[1] * DAY)))
            )
            if back >= self.end_s:
                break
            life.add(customer, back, WON_BACK)
            self.won_back += 1
            since = back
            hazard *= RELAPSE
        life.close_customer(customer)

    def lifecycle_events(self) -> list[int]:
        """Write the lifecycle events in time order; return that order (event indices)."""
        life = self.life
        # A stable sort: events at the same instant stay in customer order.
        order = sorted(range(len(life)), key=life.time.__getitem__)
        for event in order:
            reason = life.reason[event]
            detail = None
            if reason >= 0 and life.detail[event] >= 0:
                detail = LEAVE_DETAILS[self.categories[reason].key][life.detail[event]]
            self.writer.add(
                "lifecycle_events",
                (
                    life.customer[event] + 1,
                    life.time[event],
                    KINDS[life.kind[event]],
                    self.categories[reason].id if reason >= 0 else None,
                    detail,
                ),
            )
        self.writer.flush_all()
        return order

    # purchases and the loyalty ledger

    def _active_spans(self) -> list[tuple[int, int, int]]:
        """(customer, from, until) for every span in which a customer was active."""
        life = self.life
        spans = []
        for event in range(len(life)):
            if life.kind[event] == LEFT:
                continue
            following = life.next_of(event)
            until = life.time[following] if following >= 0 else self.end_s
            spans.append((life.customer[event], life.time[event], until))
        return spans

    def purchases(self) -> None:
        """Write purchases and loyalty lines, in time order, while customers are active."""
        rng = self.rng_buy
        n = self.n_customers
        gap = array("d", (rng.uniform(*PURCHASE_GAP_DAYS) * DAY for _ in range(n)))
        spend = array("d", (SPEND_MEDIAN * _lognormal(rng, 0.5) for _ in range(n)))
        bought = array("b", [0]) * n
        actions = [(key, share, most) for key, share, most in LOYALTY if key in self.loyalty]
        per_unit = self.loyalty.get("purchase", 1)
        # (at, sequence, customer, until, action): action -1 is a purchase
        queue: list[tuple[int, int, int, int, int]] = []
        seq = 0
        seen = array("b", [0]) * n
        for customer, since, until in self._active_spans():
            until = min(until, self.end_s)
            if until <= since:
                continue
            if seen[customer]:
                first = since + _between(rng, HOUR, 7 * DAY)
            elif rng.random() < 0.85:
                first = since + _between(rng, 10 * MINUTE, 2 * DAY)
            else:
                first = since + _between(rng, 2 * DAY, 20 * DAY)
            if first < until:
                queue.append((first, seq, customer, until, -1))
                seq += 1
            for index, (_, share, most) in enumerate(actions):
                if most == 0 and seen[customer]:
                    continue
                if rng.random() >= share:
                    continue
                for _ in range(1 if most == 0 else _between(rng, 1, most + 1)):
                    queue.append((_between(rng, since, until), seq, customer, until, index))
                    seq += 1
            seen[customer] = 1
        heapq.heapify(queue)
        number = 0
        while queue:
            at, _, customer, until, action = heapq.heappop(queue)
            if action >= 0:
                key = actions[action][0]
                self.writer.add(
                    "points_ledger", (None, customer + 1, at, key, self.loyalty[key], "", None)
                )
                continue
            number += 1
            ref = f"PU-{number:06d}"
            if bought[customer] and rng.random() < CANCEL_SHARE:
                amount = -_between(rng, 300, 3001)
            else:
                units = max(1, int(spend[customer] * _lognormal(rng, 0.6)))
                amount = units * 100 + CENT_ENDINGS[_below(rng, len(CENT_ENDINGS))]
            bought[customer] = 1
            self.writer.add("purchases", (number, ref, customer + 1, at, amount))
            points = abs(amount) * per_unit // 100
            if points:
                self.writer.add(
                    "points_ledger",
                    (
                        None,
                        customer + 1,
                        at,
                        "purchase",
                        points if amount > 0 else -points,
                        f"purchase {ref}",
                        None,
                    ),
                )
            if rng.random() < DORMANT_SHARE:
                wait = rng.uniform(*DORMANT_DAYS) * DAY
            else:
                wait = gap[customer] * (0.4 + 1.2 * rng.random())
            following = at + max(DAY, int(wait))
            if following < until:
                heapq.heappush(queue, (following, seq, customer, until, -1))
                seq += 1
        self.writer.flush_all()

    # calls and complaints

    def calls(self, order: list[int]) -> None:
        """Write the calls, in time order, and the complaints they open."""
        desk = _CallDesk(self, order)
        planned = desk.plan_pre_leave_calls()
        counts = _allocate(self.n_calls - len(planned), desk.month_weights())
        rng = self.rng_calls
        next_planned = 0
        for month, count in enumerate(counts):
            lo, hi = self.bounds[month], min(self.bounds[month + 1], self.end_s)
            if hi <= lo:
                continue
            for at in sorted(_in_hours(rng, lo, hi) for _ in range(count)):
                while next_planned < len(planned) and planned[next_planned][0] <= at:
                    desk.planned_call(*planned[next_planned])
                    next_planned += 1
                desk.random_call(at)
        for item in planned[next_planned:]:
            desk.planned_call(*item)
        self.writer.flush_all()
        self.open_complaints = desk.open_complaints


class _CallDesk:
    """The desk's days, replayed in time order: who is a customer, who calls, what is open."""

    def __init__(self, story: _Story, order: list[int]) -> None:
        self.story = story
        self.rng = story.rng_calls
        self.writer = story.writer
        self.order = order
        self.end_s = story.end_s
        n = story.n_customers
        self.active: list[int] = []
        self.position = array("l", [-1]) * n
        self.leaves_at = array("q", [NEVER]) * n
        self.leaves_for = array("l", [-1]) * n
        self.applied = 0
        self.calls = 0
        self.complaints = 0
        self.open_complaints = 0
        # (until, complaint number, customer, channel): complaints still unresolved until then
        self.unresolved: list[tuple[int, int, int, str]] = []
        agents = story.agents
        self.agent_picker = _Picker(
            agents, [0.35 if agent.role == "supervisor" else 1.0 for agent in agents]
        )
        self.supervisors = [a for a in agents if a.role == "supervisor"] or agents
        # Some agents answer faster than others: it shows in response times per agent.
        self.speed = {agent.id: self.rng.uniform(0.75, 1.3) for agent in agents}
        self.channels = _Picker(list(CHANNELS), list(CHANNELS.values()))
        self.after_hours_channels = _Picker(
            list(AFTER_HOURS_CHANNELS), list(AFTER_HOURS_CHANNELS.values())
        )
        self.priorities = _Picker(list(PRIORITIES), list(PRIORITIES.values()))
        self.upset_priorities = _Picker(list(UPSET_PRIORITIES), list(UPSET_PRIORITIES.values()))
        self.complaint_reasons = story.category_picker(COMPLAINT_REASONS)
        self.goodwill = "goodwill" in story.loyalty

    def month_weights(self) -> list[float]:
        """Call volume per month: the customer base then, and a lively last month."""
        life = self.story.life
        bounds = self.story.bounds
        weights = []
        active = 0
        k = 0
        for month in range(len(bounds) - 1):
            while k < len(self.order) and life.time[self.order[k]] < bounds[month]:
                active += -1 if life.kind[self.order[k]] == LEFT else 1
                k += 1
            acquired = bisect_left(self.story.acquired_at, bounds[month + 1]) - bisect_left(
                self.story.acquired_at, bounds[month]
            )
            weights.append(max(active, 0) + 0.5 * acquired)
        if weights:
            weights[-1] *= LIVELY
        return weights

    def plan_pre_leave_calls(self) -> list[tuple[int, int, int]]:
        """(at, customer, reason) of the complaint calls some leavers make before they leave."""
        life = self.story.life
        categories = self.story.categories
        candidates = []
        for event in range(len(life)):
            if life.kind[event] != LEFT:
                continue
            lo = max(life.time[event - 1] + 1, self.story.start_s)
            hi = life.time[event]
            if hi - lo < HOUR:
                continue
            quiet = categories[life.reason[event]].key in ("no_need", "moved", "other")
            candidates.append((event, lo, hi, PLANNED_SHARE * (0.5 if quiet else 1.0)))
        cap = int(self.story.n_calls * PLANNED_CAP)
        expected = sum(share for *_, share in candidates)
        scale = min(1.0, cap / expected) if expected else 0.0
        planned: list[tuple[int, int, int]] = []
        for event, lo, hi, share in candidates:
            if len(planned) >= cap or self.rng.random() >= share * scale:
                continue
            at = hi - _between(self.rng, DAY, 45 * DAY)
            if at < lo:
                at = _between(self.rng, lo, hi)
            in_hours = (at // DAY) * DAY + _between(self.rng, *WORKING_HOURS)
            if lo <= in_hours < hi:
                at = in_hours
            planned.append((at, life.customer[event], life.reason[event]))
        planned.sort()
        return planned

    def _advance(self, at: int) -> None:
        """Apply every lifecycle event before ``at``: the customer base as it stands at ``at``."""
        life = self.story.life
        order = self.order
        while self.applied < len(order) and life.time[order[self.applied]] < at:
            event = order[self.applied]
            self.applied += 1
            customer = life.customer[event]
            if life.kind[event] == LEFT:
                index = self.position[customer]
                last = self.active.pop()
                if last != customer:
                    self.active[index] = last
                    self.position[last] = index
                self.position[customer] = -1
                self.leaves_at[customer] = NEVER
            else:
                self.position[customer] = len(self.active)
                self.active.append(customer)
                following = life.next_of(event)
                if following >= 0:
                    self.leaves_at[customer] = life.time[following]
                    self.leaves_for[customer] = life.reason[following]

    def _any_customer(self, at: int) -> int:
        if self.active:
            return self.active[_below(self.rng, len(self.active))]
        # Nobody is active: somebody who was a customer before calls anyway.
        known = bisect_left(self.story.acquired_at, at)
        return _below(self.rng, known) if known else 0

    def planned_call(self, at: int, customer: int, reason: int) -> None:
        """A customer who will leave for ``reason`` complains, often about just that."""
        self._advance(at)
        if self.rng.random() >= OWN_REASON_SHARE:
            reason = self.complaint_reasons.pick(self.rng)
        self._log(at, customer, complaint=reason, upset=True)

    def random_call(self, at: int) -> None:
        """Somebody calls: a follow-up on an open complaint, a new complaint, or a question."""
        self._advance(at)
        rng = self.rng
        if self.unresolved and rng.random() < FOLLOW_UP_SHARE:
            for _ in range(4):
                index = _below(rng, len(self.unresolved))
                until, number, customer, channel = self.unresolved[index]
                if until > at:
                    self._log(at, customer, follow_up=(number, channel))
                    return
                self.unresolved[index] = self.unresolved[-1]
                self.unresolved.pop()
                if not self.unresolved:
                    break
        customer = self._any_customer(at)
        soon = self.leaves_at[customer] - at < LEAVING_SOON
        if rng.random() < (COMPLAINT_SHARE_LEAVING if soon else COMPLAINT_SHARE):
            if soon and rng.random() < OWN_REASON_SHARE_SOON:
                reason = self.leaves_for[customer]
            else:
                reason = self.complaint_reasons.pick(rng)
            self._log(at, customer, complaint=reason, upset=soon)
        else:
            self._log(at, customer)

    def _log(
        self,
        at: int,
        customer: int,
        *,
        complaint: int = -1,
        upset: bool = False,
        follow_up: tuple[int, str] | None = None,
    ) -> None:
        rng = self.rng
        agent = self.agent_picker.pick(rng)
        self.calls += 1
        complaint_id: int | None = None
        templates: tuple[str, ...]
        # Out of hours nobody phones or walks in: mail, the feedback page and chat do.
        after_hours = not _within_hours(at)
        channels = self.after_hours_channels if after_hours else self.channels
        if follow_up is not None:
            complaint_id, channel = follow_up
            if rng.random() >= 0.6 or (after_hours and channel not in AFTER_HOURS_CHANNELS):
                channel = channels.pick(rng)
            outbound = not after_hours and rng.random() < 0.45
            templates = FOLLOW_UP_OUT if outbound else FOLLOW_UP_IN
            notes = templates[_below(rng, len(templates))].format(ref=f"CP-{complaint_id:06d}")
        elif complaint >= 0:
            channel = channels.pick(rng)
            outbound = not after_hours and rng.random() < 0.05
            complaint_id, summary = self._complaint(at, customer, complaint, channel, agent, upset)
            notes = f"Opened CP-{complaint_id:06d}: {summary}"
        else:
            channel = channels.pick(rng)
            outbound = not after_hours and rng.random() < 0.15
            templates = CALL_NOTES_OUT if outbound else CALL_NOTES_IN
            notes = templates[_below(rng, len(templates))]
        least, median = DURATIONS[channel]
        took = least + int((median - least) * _lognormal(rng, 0.5))
        self.writer.add(
            "calls",
            (
                self.calls,
                f"CL-{self.calls:06d}",
                customer + 1,
                agent.id,
                channel,
                "outbound" if outbound else "inbound",
                at,
                min(at + took, self.end_s),
                notes,
                complaint_id,
            ),
        )

    def _complaint(
        self, at: int, customer: int, reason: int, channel: str, agent: _Agent, upset: bool
    ) -> tuple[int, str]:
        """File a complaint received at ``at``, answered as fast as its owner and the SLA go."""
        rng = self.rng
        self.complaints += 1
        number = self.complaints
        ref = f"CP-{number:06d}"
        priority = (self.upset_priorities if upset else self.priorities).pick(rng)
        owner = agent
        if rng.random() >= 0.85:
            pool = self.supervisors if priority == "urgent" else self.story.agents
            owner = pool[_below(rng, len(pool))]
        slowdown = self.speed[owner.id] * (UPSET_SLOWDOWN if upset else 1.0)
        first_target, resolution_target = self.story.sla[priority]
        first = at + max(2 * MINUTE, int(first_target * slowdown * _ratio(rng, FIRST_RESPONSE)))
        resolved = max(
            first + MINUTE, at + int(resolution_target * slowdown * _ratio(rng, RESOLUTION))
        )
        if self.end_s - at < BACKLOG_DAYS * DAY and rng.random() < BACKLOG_SHARE:
            first = NEVER  # still in the queue: nobody has answered yet
        first_at: int | None = first if first <= self.end_s else None
        resolved_at: int | None = (
            resolved if first_at is not None and resolved <= self.end_s else None
        )
        if resolved_at is not None:
            status, updated_at = "resolved", resolved_at
        elif first_at is not None:
            status, updated_at = "pending", first_at
        else:
            status, updated_at = "open", None
        key = self.story.categories[reason].key
        summaries = COMPLAINT_SUMMARIES.get(key, GENERIC_SUMMARIES)
        summary = summaries[_below(rng, len(summaries))]
        detail = None
        if rng.random() < COMPLAINT_DETAIL_SHARE:
            detail = (
                f'{summary}. Customer: "{COMPLAINT_QUOTES[_below(rng, len(COMPLAINT_QUOTES))]}"'
            )
        self.writer.add(
            "complaints",
            (
                number,
                ref,
                customer + 1,
                at,
                self.story.categories[reason].id,
                detail,
                priority,
                channel,
                owner.id,
                status,
                first_at,
                resolved_at,
                summary,
                1,
                updated_at if updated_at is not None else at,
                owner.name if updated_at is not None else agent.name,
            ),
        )
        if resolved_at is None:
            self.open_complaints += 1
        self.unresolved.append((resolved_at or self.end_s, number, customer, channel))
        if (
            resolved_at is not None
            and self.goodwill
            and rng.random() < GOODWILL_SHARE.get(priority, 0.0)
        ):
            reason_text = GOODWILL_REASONS[_below(rng, len(GOODWILL_REASONS))]
            self.writer.add(
                "points_ledger",
                (
                    None,
                    customer + 1,
                    resolved_at,
                    "goodwill",
                    GOODWILL_POINTS[_below(rng, len(GOODWILL_POINTS))],
                    f"Goodwill for {ref}: {reason_text}",
                    owner.id,
                ),
            )
        return number, summary


def _ratio(rng: random.Random, shape: tuple[float, float]) -> float:
    """A lognormal share of a target with the given (median, sigma)."""
    median, sigma = shape
    return median * _lognormal(rng, sigma)


# --- the entry point --------------------------------------------------------------------------


def _check(customers: int, calls: int, months: int, agents: int, end: datetime) -> None:
    if end.tzinfo is None or end.utcoffset() is None:
        raise InvalidInput(
            "the demo's end must carry a time zone (for example 2026-11-20T15:00:00+00:00)"
        )
    for name, value, least in (
        ("customers", customers, 1),
        ("calls", calls, 0),
        ("months", months, 1),
        ("agents", agents, 1),
    ):
        if value < least:
            raise InvalidInput(f"{name} must be at least {least} (got {value})")


@contextmanager
def _big_sqlite_cache(connection: sa.Connection) -> Iterator[None]:
    """On SQLite, a bigger page cache while the demo is written: its indexes stay in memory."""
    if connection.dialect.name != "sqlite":
        yield
        return
    # Straight on the driver connection, so that restoring it works even after a failed write.
    raw: Any = connection.connection.dbapi_connection
    previous = raw.execute("PRAGMA cache_size").fetchone()[0]
    raw.execute(f"PRAGMA cache_size = {SQLITE_CACHE_KIB}")
    try:
        yield
    finally:
        raw.execute(f"PRAGMA cache_size = {int(previous)}")


def build_demo(
    engine: Engine,
    *,
    seed: int = 1,
    customers: int = 1500,
    calls: int = 15000,
    months: int = 24,
    end: datetime,
    agents: int = 8,
    progress: Progress | None = None,
) -> DemoSummary:
    """Fill an empty, migrated desk database with a reproducible story ending at ``end``.

    Raises InvalidInput when the database already holds customers, or an argument is out of
    range. The same seed, sizes and ``end`` always write the same rows.
    """
    _check(customers, calls, months, agents, end)
    end = end.astimezone(UTC).replace(microsecond=0)
    with write_session(engine) as session:
        connection = session.connection()
        customers_table = SQLModel.metadata.tables["customers"]
        held = connection.execute(sa.select(sa.func.count()).select_from(customers_table))
        count = int(held.scalar_one())
        if count:
            raise InvalidInput(
                f"{display_url(engine.url)} already holds {count} customers; the demo is only "
                "built into an empty desk. Point desk at a new database and build it there."
            )
        with _big_sqlite_cache(connection):
            story = _Story(
                connection,
                seed=seed,
                customers=customers,
                calls=calls,
                months=months,
                end=end,
                agents=agents,
                progress=progress,
            )
            story.customers()
            order = story.lifecycle_events()
            story.purchases()
            story.calls(order)
        written = story.writer.written
        summary = DemoSummary(
            seed=seed,
            start=datetime.fromtimestamp(story.start_s, UTC),
            end=end,
            agents=len(story.agents),
            customers=written["customers"],
            lifecycle_events=written["lifecycle_events"],
            left=story.left,
            won_back=story.won_back,
            calls=written["calls"],
            complaints=written["complaints"],
            open_complaints=story.open_complaints,
            purchases=written["purchases"],
            points_entries=written["points_ledger"],
        )
        _finish(connection, summary)
    return summary


def _finish(connection: sa.Connection, summary: DemoSummary) -> None:
    """Record the story's end and seed, log the build, and move id sequences past our ids."""
    meta = SQLModel.metadata.tables["meta"]
    facts = {"demo_now": summary.end.isoformat(), "demo_seed": str(summary.seed)}
    connection.execute(meta.delete().where(meta.c.key.in_(list(facts))))
    connection.execute(meta.insert(), [{"key": k, "value": v} for k, v in facts.items()])
    audit = SQLModel.metadata.tables["audit_log"]
    connection.execute(
        audit.insert(),
        [
            {
                "at": summary.end,
                "agent": DEMO_AGENT,
                "action": "demo",
                "entity": "database",
                "entity_ref": "",
                "before": None,
                "after": json.dumps(summary.to_json(), sort_keys=True),
            }
        ],
    )
    if connection.dialect.name == "postgresql":
        for table in _OWN_IDS:
            connection.exec_driver_sql(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), MAX(id)) FROM {table} "
                "HAVING MAX(id) IS NOT NULL"
            )
