"""Built-in ways to import four public data sets: a mapping plus a change of shape each.

A preset reads one foreign file and imports it in steps, each an ordinary desk import (every
row judged, rows matched by ref, so running it again changes nothing). All steps are judged
before any is written, later steps seeing what earlier ones would create: a file one step
refuses leaves the desk as it was.

``support-tickets`` (Kaggle "Customer Support Ticket Dataset") — customers, then complaints.
    Customer ref: the lower-cased e-mail. An e-mail the file gives to more than one name is not
    merged: each of those customers gets the ref ``EMAIL/NAME`` (and ``desk customer
    duplicates`` lists them by their shared e-mail). A customer is acquired on the earliest
    Date of Purchase of their tickets. Complaint ref ``TKT-<Ticket ID>``. The file has no
    time a ticket was received: a ticket counts as received at its First Response Time; an
    open ticket (no times at all) at ``--as-of``, by default the latest time in the file.
    Resolved at: Time to Resolution. A ticket resolved before its first response is
    rejected with that reason. Translations: see ``TICKET_*`` below.
``telco-churn`` (IBM Telco customer churn, status file) — customers, then ``left`` events.
    Customer ref: Customer ID. The file has no dates, only tenure in months (in the file
    itself or, when absent, in the ``…services…`` file next to it): a customer was acquired
    ``tenure`` months before the reference date, and a churned one left on it. The reference
    date is ``--as-of``, by default the first day of the current month (pass the same
    ``--as-of`` to import the file again). Churn Category → leave-reason (``CHURN_REASONS``),
    Churn Reason the detail (so a reason the file files under two categories follows each
    row's category); ``None`` is a reason like any other, not a blank. Customers who stayed
    or joined get no event.
``call-center`` (PwC "PhoneNow") — calls. The file names no callers: every call belongs to
    one placeholder customer, ref ``walk-in``, created by the import. Agents named in the file
    must exist, or ``--create-missing`` adds them. Started at: Date + Time; ended at: start +
    AvgTalkDuration (a per-call talk time); an unanswered call has no talk time and ends when
    it started. Topic, answered, resolved, speed of answer and rating go to the notes.
``online-retail`` (UCI Online Retail) — purchases, one per invoice: the sum of quantity ×
    unit price of its lines, at the time of its first line (cancellations, ``C…``, come out
    negative; zero prices count as zero). Customer ref: CustomerID (``17850.0`` → ``17850``).
    Guest lines (no CustomerID) belong to one placeholder customer, ref ``guest``, created by
    the import; other customers must exist, or ``--create-missing`` adds them (named
    ``Customer <id>``, acquired at their first invoice in the file).
"""

from __future__ import annotations

import calendar
import io
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO

from sqlalchemy.engine import Engine
from sqlmodel import select

from desk import db
from desk.importers.csv_reader import CsvRow, RecordFile
from desk.importers.desk_csv import COLUMNS, ImportReport, Kind, Pending, Progress
from desk.importers.mapping import (
    AdaptedFile,
    Adapter,
    MappingError,
    Run,
    Trace,
    ValueProblem,
    duration,
    plain_id,
    run_import,
    source_rows,
    yes_no,
)
from desk.importers.readers import ReadOptions, open_records
from desk.models import Agent, Role
from desk.store.agents import add_agent
from desk.timefmt import format_instant, parse_instant

# support-tickets --------------------------------------------------------------------------------

TICKET_TYPES = {
    "Technical issue": "product",
    "Product inquiry": "product",
    "Billing inquiry": "price",
    "Refund request": "price",
    "Cancellation request": "no_need",
}
"""Ticket Type → leave-reason, unless the subject says more (``TICKET_SUBJECTS``)."""
TICKET_SUBJECTS = {
    "Delivery problem": "service",
    "Account access": "service",
    "Product recommendation": "other",
}
"""Ticket Subject → leave-reason, taking precedence over the type."""
TICKET_PRIORITIES = {"Critical": "urgent", "High": "high", "Medium": "normal", "Low": "low"}
TICKET_CHANNELS = {"Email": "email", "Phone": "phone", "Chat": "chat", "Social media": "web"}
TICKET_STATUSES = {"Open": "open", "Pending Customer Response": "pending", "Closed": "resolved"}

# telco-churn ------------------------------------------------------------------------------------

CHURN_REASONS = {
    "Competitor": "competitor",
    "Dissatisfaction": "product",
    "Attitude": "service",
    "Price": "price",
    "Other": "other",
}

# placeholders -----------------------------------------------------------------------------------

WALK_IN_REF = "walk-in"
GUEST_REF = "guest"


@dataclass(frozen=True)
class Settings:
    """What a preset needs besides the file."""

    tz: tzinfo
    now: datetime
    as_of: datetime | None = None
    create_missing: bool = False


@dataclass(frozen=True)
class Step:
    """One desk import a preset makes: ``convert`` turns the source rows into ``kind`` rows."""

    kind: Kind
    convert: Callable[[list[CsvRow], Trace], Iterator[CsvRow]]
    sources: Mapping[str, tuple[str, ...]]
    """Desk field → the source columns it comes from (problems name those)."""


@dataclass(frozen=True)
class Preset:
    """A built-in import of one data set."""

    name: str
    kind: Kind
    """The kind of record the file is about (``desk import KIND FILE --preset NAME``)."""
    summary: str
    columns: tuple[str, ...]
    """The source columns the preset reads."""
    steps: Callable[[Path, Settings, RecordFile | None], list[Step]]
    agents_column: str | None = None
    """The column naming agents, added by ``--create-missing``."""


def _row(line: int, values: dict[str, str]) -> CsvRow:
    return CsvRow(line, values, len(values))


def _refused(line: int, values: dict[str, str]) -> CsvRow:
    return CsvRow(line, values, len(values), "refused by the preset")


def _translate(
    trace: Trace, row: CsvRow, column: str, table: dict[str, str], label: str
) -> str | None:
    value = row.values.get(column, "").strip()
    if value in table:
        return table[value]
    trace.fail(row.line, column, value, f"not a known {label}; expected one of: {', '.join(table)}")
    return None


def _instant(trace: Trace, row: CsvRow, column: str, tz: tzinfo) -> datetime | None:
    value = row.values.get(column, "").strip()
    if not value:
        return None
    try:
        return parse_instant(value, tz)
    except ValueError as exc:
        trace.fail(row.line, column, value, str(exc))
        return None


def _iso(at: datetime, tz: tzinfo) -> str:
    return format_instant(at, tz)


# --- support-tickets -------------------------------------------------------------------------------


def _ticket_refs(rows: list[CsvRow]) -> dict[tuple[str, str], str]:
    """(e-mail, name) → customer ref: the e-mail, or EMAIL/NAME when it is shared by names."""
    names: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        email = row.values.get("Customer Email", "").strip().lower()
        names[email].add(row.values.get("Customer Name", "").strip())
    refs: dict[tuple[str, str], str] = {}
    for email, who in names.items():
        for name in who:
            refs[(email, name)] = email if len(who) == 1 else f"{email}/{name}"
    return refs


def _ticket_customer(row: CsvRow, refs: dict[tuple[str, str], str]) -> tuple[str, str, str]:
    email = row.values.get("Customer Email", "").strip().lower()
    name = row.values.get("Customer Name", "").strip()
    return refs.get((email, name), ""), name, email


def _support_steps(path: Path, settings: Settings, services: RecordFile | None) -> list[Step]:
    tz = settings.tz

    def customers(rows: list[CsvRow], trace: Trace) -> Iterator[CsvRow]:
        refs = _ticket_refs(trace.every or rows)  # the whole file's names, rows left out too
        first: dict[str, tuple[int, dict[str, str]]] = {}
        for row in rows:
            ref, name, email = _ticket_customer(row, refs)
            bought = row.values.get("Date of Purchase", "").strip()
            if ref not in first:
                first[ref] = (
                    row.line,
                    {"ref": ref, "name": name, "email": email, "phone": "", "acquired_at": bought},
                )
            elif bought and (
                not first[ref][1]["acquired_at"] or bought < first[ref][1]["acquired_at"]
            ):
                first[ref][1]["acquired_at"] = bought
        for line, values in first.values():
            yield _row(line, values)

    def complaints(rows: list[CsvRow], trace: Trace) -> Iterator[CsvRow]:
        refs = _ticket_refs(trace.every or rows)
        latest: datetime | None = settings.as_of
        if latest is None:
            for row in rows:
                for column in ("First Response Time", "Time to Resolution"):
                    value = row.values.get(column, "").strip()
                    try:
                        at = parse_instant(value, tz) if value else None
                    except ValueError:
                        at = None  # reported on its own row
                    if at is not None and (latest is None or at > latest):
                        latest = at
        for row in rows:
            before = len(trace.problems)
            responded = _instant(trace, row, "First Response Time", tz)
            resolved = _instant(trace, row, "Time to Resolution", tz)
            subject = row.values.get("Ticket Subject", "").strip()
            reason = TICKET_SUBJECTS.get(subject) or _translate(
                trace, row, "Ticket Type", TICKET_TYPES, "ticket type"
            )
            priority = _translate(trace, row, "Ticket Priority", TICKET_PRIORITIES, "priority")
            channel = _translate(trace, row, "Ticket Channel", TICKET_CHANNELS, "channel")
            status = _translate(trace, row, "Ticket Status", TICKET_STATUSES, "ticket status")
            if resolved is not None and responded is not None and resolved < responded:
                trace.fail(
                    row.line,
                    "Time to Resolution",
                    row.values.get("Time to Resolution", ""),
                    "resolved before its first response (First Response Time "
                    f"{row.values.get('First Response Time', '')}): the ticket's times are "
                    "impossible",
                )
            received = responded or resolved or latest
            ref, _, _ = _ticket_customer(row, refs)
            values = {
                "ref": f"TKT-{plain_id(row.values.get('Ticket ID', '').strip())}",
                "customer_ref": ref,
                "received_at": _iso(received, tz) if received else "",
                "reason": reason or "",
                "priority": priority or "",
                "agent": "",
                "channel": channel or "",
                "first_response_at": _iso(responded, tz) if responded else "",
                "resolved_at": _iso(resolved, tz) if resolved else "",
                "summary": subject,
                "detail": row.values.get("Ticket Description", "").strip(),
                "status": status or "",
            }
            yield (
                _refused(row.line, values)
                if len(trace.problems) > before
                else _row(row.line, values)
            )

    customer_sources = {
        "ref": ("Customer Email",),
        "name": ("Customer Name",),
        "email": ("Customer Email",),
        "acquired_at": ("Date of Purchase",),
    }
    complaint_sources = {
        "ref": ("Ticket ID",),
        "customer_ref": ("Customer Email",),
        "received_at": ("First Response Time",),
        "reason": ("Ticket Type",),
        "priority": ("Ticket Priority",),
        "channel": ("Ticket Channel",),
        "first_response_at": ("First Response Time",),
        "resolved_at": ("Time to Resolution",),
        "summary": ("Ticket Subject",),
        "detail": ("Ticket Description",),
        "status": ("Ticket Status",),
    }
    return [
        Step(Kind.customers, customers, customer_sources),
        Step(Kind.complaints, complaints, complaint_sources),
    ]


# --- telco-churn -----------------------------------------------------------------------------------


def months_before(at: datetime, months: int) -> datetime:
    """``at`` moved back by whole calendar months (the day kept, or the month's last day)."""
    index = at.year * 12 + at.month - 1 - months
    year, month = divmod(index, 12)
    day = min(at.day, calendar.monthrange(year, month + 1)[1])
    return at.replace(year=year, month=month + 1, day=day)


def _services_path(path: Path) -> Path:
    return path.with_name(path.name.replace("status", "services"))


def _tenures(services: RecordFile | None) -> dict[str, str]:
    if services is None:
        return {}
    return {
        row.values.get("Customer ID", "").strip(): row.values.get("Tenure in Months", "").strip()
        for row in services.rows()
    }


def _telco_steps(path: Path, settings: Settings, services: RecordFile | None) -> list[Step]:
    tz = settings.tz
    local_now = settings.now.astimezone(tz)
    as_of = settings.as_of or local_now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    tenures = _tenures(services)

    def tenure(row: CsvRow, trace: Trace) -> int | None:
        customer = row.values.get("Customer ID", "").strip()
        value = row.values.get("Tenure in Months", tenures.get(customer, "")).strip()
        column = "Tenure in Months"
        if not value:
            trace.fail(row.line, column, value, "no tenure for this customer")
            return None
        try:
            months = int(plain_id(value))
        except ValueError:
            trace.fail(row.line, column, value, "not a whole number of months")
            return None
        if months < 0:
            trace.fail(row.line, column, value, "a tenure cannot be negative")
            return None
        return months

    def customers(rows: list[CsvRow], trace: Trace) -> Iterator[CsvRow]:
        for row in rows:
            before = len(trace.problems)
            ref = row.values.get("Customer ID", "").strip()
            months = tenure(row, trace)
            acquired = months_before(as_of, months) if months is not None else None
            values = {
                "ref": ref,
                "name": ref,
                "email": "",
                "phone": "",
                "acquired_at": _iso(acquired, tz) if acquired else "",
            }
            yield (
                _refused(row.line, values)
                if len(trace.problems) > before
                else _row(row.line, values)
            )

    def lifecycle(rows: list[CsvRow], trace: Trace) -> Iterator[CsvRow]:
        for row in rows:
            status = row.values.get("Customer Status", "").strip()
            if status in ("Stayed", "Joined"):
                continue
            values = {
                "customer_ref": row.values.get("Customer ID", "").strip(),
                "at": _iso(as_of, tz),
                "event": "left",
                "reason": "",
                "detail": row.values.get("Churn Reason", "").strip(),
            }
            if status != "Churned":
                trace.fail(
                    row.line,
                    "Customer Status",
                    status,
                    "not a customer status; expected Stayed, Joined or Churned",
                )
                yield _refused(row.line, values)
                continue
            reason = _translate(trace, row, "Churn Category", CHURN_REASONS, "churn category")
            values["reason"] = reason or ""
            yield _row(row.line, values) if reason else _refused(row.line, values)

    return [
        Step(Kind.customers, customers, {"ref": ("Customer ID",), "name": ("Customer ID",)}),
        Step(
            Kind.lifecycle,
            lifecycle,
            {
                "customer_ref": ("Customer ID",),
                "reason": ("Churn Category",),
                "detail": ("Churn Reason",),
            },
        ),
    ]


# --- call-center ------------------------------------------------------------------------------------


def _call_steps(path: Path, settings: Settings, services: RecordFile | None) -> list[Step]:
    tz = settings.tz

    def customers(rows: list[CsvRow], trace: Trace) -> Iterator[CsvRow]:
        if rows:
            yield _row(
                rows[0].line,
                {
                    "ref": WALK_IN_REF,
                    "name": "Walk-in caller (call centre file)",
                    "email": "",
                    "phone": "",
                    "acquired_at": "",
                },
            )

    def calls(rows: list[CsvRow], trace: Trace) -> Iterator[CsvRow]:
        for row in rows:
            before = len(trace.problems)
            get = row.values.get
            date, time = get("Date", "").strip(), get("Time", "").strip()
            started: datetime | None = None
            try:
                started = parse_instant(f"{date} {time}".strip(), tz)
            except ValueError as exc:
                trace.fail(row.line, "Date+Time", f"{date} {time}".strip(), str(exc))
            answered = resolved = None
            talk = None
            try:
                answered = yes_no(get("Answered (Y/N)", ""))
            except ValueProblem as exc:
                trace.fail(row.line, "Answered (Y/N)", get("Answered (Y/N)", ""), str(exc))
            try:
                resolved = yes_no(get("Resolved", ""))
            except ValueProblem as exc:
                trace.fail(row.line, "Resolved", get("Resolved", ""), str(exc))
            try:
                talk = duration(get("AvgTalkDuration", ""))
            except ValueProblem as exc:
                trace.fail(row.line, "AvgTalkDuration", get("AvgTalkDuration", ""), str(exc))
            if answered is True and talk is None and len(trace.problems) == before:
                trace.fail(row.line, "AvgTalkDuration", "", "an answered call needs its talk time")
            if answered is False and talk:
                trace.fail(
                    row.line,
                    "AvgTalkDuration",
                    get("AvgTalkDuration", ""),
                    "an unanswered call has no talk time",
                )
            notes = [get("Topic", "").strip()]
            notes.append("answered" if answered else "not answered")
            if resolved is not None:
                notes.append("resolved" if resolved else "not resolved")
            if get("Speed of answer in seconds", "").strip():
                notes.append(f"answered after {get('Speed of answer in seconds', '').strip()} s")
            if get("Satisfaction rating", "").strip():
                notes.append(f"rating {get('Satisfaction rating', '').strip()}")
            ended = started + talk if started is not None and talk is not None else started
            values = {
                "ref": get("Call Id", "").strip(),
                "customer_ref": WALK_IN_REF,
                "agent": get("Agent", "").strip(),
                "channel": "phone",
                "direction": "inbound",
                "started_at": _iso(started, tz) if started else "",
                "ended_at": _iso(ended, tz) if ended else "",
                "notes": "; ".join(part for part in notes if part),
                "complaint_ref": "",
            }
            yield (
                _refused(row.line, values)
                if len(trace.problems) > before
                else _row(row.line, values)
            )

    call_sources = {
        "ref": ("Call Id",),
        "agent": ("Agent",),
        "started_at": ("Date", "Time"),
        "ended_at": ("AvgTalkDuration",),
        "notes": ("Topic",),
    }
    return [Step(Kind.customers, customers, {}), Step(Kind.calls, calls, call_sources)]


# --- online-retail ----------------------------------------------------------------------------------


@dataclass
class _Invoice:
    line: int
    customer: str
    at: datetime
    amount: Decimal
    lines: list[int]


def _invoices(rows: list[CsvRow], trace: Trace, tz: tzinfo) -> dict[str, _Invoice]:
    invoices: dict[str, _Invoice] = {}
    for row in rows:
        get = row.values.get
        number = get("InvoiceNo", "").strip()
        customer = plain_id(get("CustomerID", "").strip()) or GUEST_REF
        at = _instant(trace, row, "InvoiceDate", tz)
        amount = Decimal(0)
        for column in ("Quantity", "UnitPrice"):
            try:
                Decimal(get(column, "").strip())
            except InvalidOperation:
                trace.fail(row.line, column, get(column, ""), "not a number")
        if row.line not in trace.problems:
            amount = Decimal(get("Quantity", "").strip()) * Decimal(get("UnitPrice", "").strip())
        if not number:
            trace.fail(row.line, "InvoiceNo", "", "required; it cannot be blank")
            continue
        invoice = invoices.get(number)
        if invoice is None:
            invoices[number] = _Invoice(row.line, customer, at or datetime.min, amount, [row.line])
            continue
        invoice.lines.append(row.line)
        invoice.amount += amount
        if at is not None and at < invoice.at:
            invoice.at = at
        if customer != invoice.customer:
            trace.fail(
                row.line,
                "CustomerID",
                get("CustomerID", ""),
                f"invoice {number} belongs to customer {invoice.customer} (line {invoice.line})",
            )
    return invoices


def _retail_steps(path: Path, settings: Settings, services: RecordFile | None) -> list[Step]:
    tz = settings.tz

    def customers(rows: list[CsvRow], trace: Trace) -> Iterator[CsvRow]:
        first: dict[str, tuple[int, datetime | None]] = {}
        for invoice in _invoices(rows, Trace(), tz).values():
            if invoice.customer != GUEST_REF and not settings.create_missing:
                continue
            seen = first.get(invoice.customer)
            if seen is None or (invoice.at < (seen[1] or invoice.at)):
                first[invoice.customer] = (seen[0] if seen else invoice.line, invoice.at)
        for ref, (line, at) in first.items():
            guest = ref == GUEST_REF
            yield _row(
                line,
                {
                    "ref": ref,
                    "name": "Guest shoppers (online retail file)" if guest else f"Customer {ref}",
                    "email": "",
                    "phone": "",
                    "acquired_at": "" if guest or at is None else _iso(at, tz),
                },
            )

    def purchases(rows: list[CsvRow], trace: Trace) -> Iterator[CsvRow]:
        invoices = _invoices(rows, trace, tz)
        for number, invoice in invoices.items():
            values = {
                "ref": number,
                "customer_ref": invoice.customer,
                "at": _iso(invoice.at, tz),
                "amount": str(invoice.amount),
            }
            bad = [line for line in invoice.lines if line in trace.problems]
            if bad:
                for line in invoice.lines:
                    if line not in trace.problems:
                        trace.fail(
                            line, None, None, f"invoice {number} has a refused line ({bad[0]})"
                        )
                for line in invoice.lines:
                    yield _refused(line, values)
                continue
            yield _row(invoice.line, values)

    purchase_sources = {
        "ref": ("InvoiceNo",),
        "customer_ref": ("CustomerID",),
        "at": ("InvoiceDate",),
        "amount": ("Quantity", "UnitPrice"),
    }
    return [
        Step(Kind.customers, customers, {"ref": ("CustomerID",)}),
        Step(Kind.purchases, purchases, purchase_sources),
    ]


PRESETS: dict[str, Preset] = {
    preset.name: preset
    for preset in (
        Preset(
            "support-tickets",
            Kind.complaints,
            "creates its customers (ref: the e-mail; names sharing an e-mail each get "
            "EMAIL/NAME) and complaints TKT-<id>, received at their first response; tickets "
            "resolved before their first response are refused (--skip-invalid leaves them out)",
            (
                "Ticket ID",
                "Customer Name",
                "Customer Email",
                "Date of Purchase",
                "Ticket Type",
                "Ticket Subject",
                "Ticket Description",
                "Ticket Status",
                "Ticket Priority",
                "Ticket Channel",
                "First Response Time",
                "Time to Resolution",
            ),
            _support_steps,
        ),
        Preset(
            "telco-churn",
            Kind.lifecycle,
            "creates customers acquired tenure months before --as-of (tenure from the file or "
            "the …services… file next to it) and 'left' events at --as-of for churned ones "
            "(Churn Category → leave-reason, Churn Reason the detail)",
            ("Customer ID", "Customer Status", "Churn Category", "Churn Reason"),
            _telco_steps,
        ),
        Preset(
            "call-center",
            Kind.calls,
            "calls of one placeholder customer 'walk-in', ending at start + AvgTalkDuration "
            "(unanswered: at the start); agents must exist (--create-missing adds them)",
            (
                "Call Id",
                "Agent",
                "Date",
                "Time",
                "Topic",
                "Answered (Y/N)",
                "Resolved",
                "Speed of answer in seconds",
                "AvgTalkDuration",
                "Satisfaction rating",
            ),
            _call_steps,
            agents_column="Agent",
        ),
        Preset(
            "online-retail",
            Kind.purchases,
            "one purchase per invoice (sum of quantity × price; C… cancellations negative); "
            "guest lines go to the customer 'guest'; --create-missing adds the other customers",
            ("InvoiceNo", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID"),
            _retail_steps,
        ),
    )
}


def preset_named(name: str) -> Preset:
    """The preset called ``name``; a clear error naming the presets otherwise."""
    if name not in PRESETS:
        raise MappingError(f"no preset {name!r}; the presets are {', '.join(PRESETS)}")
    return PRESETS[name]


def _step_adapter(preset: Preset, step: Step, trace: Trace, excluded: frozenset[int]) -> Adapter:
    def adapt(source: RecordFile) -> RecordFile:
        missing = [column for column in preset.columns if column not in source.header]
        if missing:
            raise MappingError(
                f"{source.path}: not a {preset.name} file: no column(s) "
                f"{', '.join(repr(c) for c in missing)} (its columns are: {', '.join(source.header)})"
            )
        trace.sources = dict(step.sources)

        def convert(rows: Iterator[CsvRow]) -> Iterator[CsvRow]:
            readable: list[CsvRow] = []
            for row in source_rows(source, trace, frozenset()):
                left_out = row.line in excluded
                if left_out:
                    trace.originals.pop(row.line, None)
                if row.problem is not None:
                    if not left_out:
                        yield row
                    continue
                trace.every.append(row)
                if not left_out:
                    readable.append(row)
            yield from step.convert(readable, trace)

        return AdaptedFile(source, COLUMNS[step.kind].order, convert)

    return adapt


@dataclass
class PresetRun:
    """What a preset did: one run per step, agents added, and the rows refused on the way."""

    steps: list[tuple[Kind, Run]]
    agents_added: list[str]

    @property
    def refused(self) -> bool:
        """Whether a step refused the file (all or nothing: that step wrote nothing)."""
        return any(run.refused for _, run in self.steps)


def _missing_agents(
    path: Path,
    column: str,
    *,
    engine: Engine,
    options: ReadOptions | None,
    data: bytes | None,
) -> list[str]:
    """The agents the file names that the desk lacks."""
    with open_records(
        path, options=options, stream=io.BytesIO(data) if data is not None else None
    ) as source:
        names = list(dict.fromkeys(row.values.get(column, "").strip() for row in source.rows()))
    with db.read_session(engine) as session:
        known = set(session.exec(select(Agent.name)).all())
    return [name for name in names if name and name not in known]


def _add_agents(names: list[str], *, engine: Engine, actor: str, now: datetime) -> None:
    """Add the agents a file needs (once every step of it has been judged sound)."""
    if not names:
        return
    with db.write_session(engine) as session:
        known = set(session.exec(select(Agent.name)).all())
        for name in names:
            if name not in known:
                add_agent(name, Role.agent, session=session, actor=actor, now=now)


def _adapter_of(preset: Preset, step: Step) -> Callable[[Trace, frozenset[int]], Adapter]:
    def make(trace: Trace, excluded: frozenset[int]) -> Adapter:
        return _step_adapter(preset, step, trace, excluded)

    return make


def _prevalidate(
    preset: Preset,
    step: Step,
    path: Path,
    options: ReadOptions | None,
    data: bytes | None,
) -> tuple[Trace, int]:
    """The problems the last step's conversion finds in the file (no database), and the rows."""
    trace = Trace()
    read = 0
    with open_records(
        path, options=options, stream=io.BytesIO(data) if data is not None else None
    ) as source:
        adapted = _step_adapter(preset, step, trace, frozenset())(source)
        for row in adapted.rows():
            if row.problem is not None and row.line not in trace.problems:
                trace.fail(row.line, None, None, row.problem)
        read = len(trace.originals)
    return trace, read


def run_preset(
    preset: Preset,
    path: Path,
    *,
    engine: Engine,
    actor: str,
    settings: Settings,
    dry_run: bool = False,
    skip_invalid: bool = False,
    options: ReadOptions | None = None,
    stream: IO[bytes] | None = None,
    batch_rows: int | None = None,
    progress: Progress | None = None,
) -> PresetRun:
    """Import ``path`` with ``preset``: every step judged first, then every step written.

    Every row's values are judged first (no database): a row that cannot convert refuses the
    whole file, or with ``skip_invalid`` is left out of every step. Then each step is judged
    against the desk, later steps seeing what earlier ones would create (customers, agents),
    and only when no step refuses the file is anything written — the agents the file needs,
    then the steps in order. With ``skip_invalid`` a row any step refuses is left out of every
    step. A dry run stops after judging. ``progress`` is told each step's reading and writing.
    """
    data = stream.read() if stream is not None else None
    services = None
    if preset.name == "telco-churn" and stream is None:
        services_path = _services_path(path)
        if services_path != path and services_path.exists():
            services = services_path
    if services is not None:
        with open_records(services) as services_file:
            steps = preset.steps(path, settings, services_file)
    else:
        steps = preset.steps(path, settings, None)
    trace, read = _prevalidate(preset, steps[-1], path, options, data)
    if trace.problems and not skip_invalid:
        return PresetRun(
            [(steps[-1].kind, _checked(path, steps[-1].kind, trace, read, dry_run))], []
        )
    agents: list[str] = []
    if preset.agents_column and settings.create_missing:
        agents = _missing_agents(
            path, preset.agents_column, engine=engine, options=options, data=data
        )

    def run(step: Step, *, judging: bool, excluded: frozenset[int], pending: Pending | None) -> Run:
        return run_import(
            path,
            step.kind,
            _adapter_of(preset, step),
            engine=engine,
            actor=actor,
            tz=settings.tz,
            now=settings.now,
            dry_run=judging,
            skip_invalid=skip_invalid,
            options=options,
            stream=io.BytesIO(data) if data is not None else None,
            excluded=excluded,
            progress=_step_progress(progress, step.kind, judging=judging),
            batch_rows=batch_rows,
            pending=pending,
        )

    # Judge every step, each seeing what the steps before it would create.
    pending = Pending(agents=set(agents))
    judged: list[tuple[Kind, Run]] = []
    excluded = frozenset(trace.problems)
    for step in steps:
        outcome = run(step, judging=True, excluded=excluded, pending=pending)
        judged.append((step.kind, outcome))
        if outcome.refused:
            break
        excluded = excluded | frozenset(outcome.rejected)
    refused = any(outcome.refused for _, outcome in judged)
    if dry_run or refused:
        if skip_invalid and trace.problems and not refused:
            _add_rejected(judged[-1][1], trace)
        return PresetRun(judged, agents)
    # Nothing refused: write, leaving out of every step the rows any step refused.
    _add_agents(agents, engine=engine, actor=actor, now=settings.now)
    runs: list[tuple[Kind, Run]] = []
    for (kind, judgement), step in zip(judged, steps, strict=True):
        outcome = run(step, judging=False, excluded=excluded, pending=None)
        _add_judged_rejects(outcome, judgement)
        runs.append((kind, outcome))
        if outcome.refused:
            break
    if skip_invalid and trace.problems:
        kind, last = runs[-1]
        if kind is steps[-1].kind and not last.refused:
            _add_rejected(last, trace)
    return PresetRun(runs, agents)


def _step_progress(progress: Progress | None, kind: Kind, *, judging: bool) -> Progress | None:
    """``progress`` with each phase naming its step: ``checking customers in`` while a step is
    judged, ``reading customers from`` and ``writing customers from`` while it is written."""
    if progress is None:
        return None
    report = progress

    def told(phase: str, rows: int, total: int | None) -> None:
        named = f"checking {kind.value} in" if judging else f"{phase} {kind.value} from"
        report(named, rows, total)

    return told


def _add_judged_rejects(run: Run, judgement: Run) -> None:
    """Count the rows a step refused while judged (left out when written) as its rejects."""
    fresh = {line: found for line, found in judgement.rejected.items() if line not in run.rejected}
    if not fresh or not judgement.skipped:
        return
    for line, problems in fresh.items():
        run.rejected[line] = list(problems)
        run.originals[line] = judgement.originals.get(line, {})
    run.report.read += len(fresh)
    run.report.rejected += len(fresh)
    run.report.problems[:] = [p for line in sorted(run.rejected) for p in run.rejected[line]]
    run.skipped = True
    if not run.trace.header:
        run.trace.header = judgement.trace.header


def _checked(path: Path, kind: Kind, trace: Trace, read: int, dry_run: bool) -> Run:
    """A step judged from its values alone: its rows, and the refused ones."""
    report = ImportReport(path=path, kind=kind, dry_run=dry_run, read=read)
    problems = [p for line in sorted(trace.problems) for p in trace.problems[line]]
    report.problems.extend(problems)
    report.rejected = len(trace.problems)
    report.unchanged = read - report.rejected
    rejected = {line: list(found) for line, found in trace.problems.items()}
    originals = {line: trace.originals.get(line, {}) for line in rejected}
    return Run(report, trace, rejected, originals)


def _add_rejected(run: Run, trace: Trace) -> None:
    """Count the rows refused before the steps ran as rejected by the last step."""
    for line, problems in trace.problems.items():
        run.rejected[line] = list(problems)
        run.originals[line] = trace.originals.get(line, {})
    run.report.read += len(trace.problems)
    run.report.rejected += len(trace.problems)
    run.report.problems[:] = [p for line in sorted(run.rejected) for p in run.rejected[line]]
    run.skipped = True
    if not run.trace.header:
        run.trace.header = trace.header


def preset_help() -> Sequence[str]:
    """One line per preset: its name, the kind it imports and what it does."""
    return [f"{p.name} ({p.kind.value}): {p.summary}" for p in PRESETS.values()]
