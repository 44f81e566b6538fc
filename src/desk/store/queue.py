"""The complaint queue and the recent-calls list, read a page at a time (SPEC: Response times).

The queue holds open and pending complaints, most pressing first: by the instant their SLA
target that applies now falls due (the first-response target while no response was given,
else the resolution target), then by id. Recent calls are newest first. Both read pages by
offset, so a list of any length is shown without ever loading it whole; the calls read the
ids of a page first (an index-only walk) and join names for those rows only, and read pages
near the end from the other end, so the last page costs what the first does.

``filter`` is text an agent typed: a case-insensitive substring, matched with ``LIKE`` and
bound parameters only (``%``, ``_`` and ``\\`` are matched literally).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session

from desk.metrics._sql import epoch, integer, table, text_value
from desk.models import (
    Agent,
    Call,
    Category,
    Channel,
    Complaint,
    Customer,
    Direction,
    SlaTarget,
    Status,
)
from desk.store.pages import (
    calls_count_all,
    calls_page_all,
    calls_window,
    clean_filter,
    queue_count_all,
    queue_page_all,
)
from desk.store.rows import FIRST_RESPONSE as FIRST_RESPONSE
from desk.store.rows import RESOLUTION as RESOLUTION
from desk.store.rows import CallRow as CallRow
from desk.store.rows import QueueRow as QueueRow
from desk.store.rows import SlaState as SlaState
from desk.store.rows import Stage as Stage
from desk.store.rows import call_row, queue_row
from desk.store.rows import sla_state as sla_state

QUEUE_STATUSES = (Status.open.value, Status.pending.value)
"""The statuses of complaints that are in the queue."""


def _like(text: str) -> str:
    """A LIKE pattern that finds ``text`` anywhere, its wildcards and escapes taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _matches(
    filter: str, columns: list[ColumnElement[Any]], *, session: Session
) -> ColumnElement[bool]:
    """Any of ``columns`` contains ``filter``, ignoring case."""
    pattern = text_value(_like(filter))
    if session.get_bind().dialect.name == "sqlite":
        # SQLite's LIKE already ignores (ASCII) case; ILIKE would wrap both sides in lower()
        # and take twice as long over a big table.
        return sa.or_(*(column.like(pattern, escape="\\") for column in columns))
    return sa.or_(*(column.ilike(pattern, escape="\\") for column in columns))


# --- the queue -------------------------------------------------------------------------------


def _queue(
    filter: str | None,
    owner: str | None,
    *,
    session: Session,
) -> sa.Subquery:
    """The queue's rows with their applicable SLA deadline (epoch seconds) and target."""
    complaints = table(Complaint)
    customers = table(Customer)
    categories = table(Category)
    agents = table(Agent)
    targets = table(SlaTarget)
    received = epoch(complaints.c.received_at)
    responded = epoch(complaints.c.first_response_at)
    target = sa.case(
        (responded.is_(None), targets.c.first_response_s), else_=targets.c.resolution_s
    )
    query = (
        sa.select(
            complaints.c.id.label("id"),
            complaints.c.ref.label("ref"),
            customers.c.ref.label("customer_ref"),
            customers.c.name.label("customer_name"),
            categories.c.key.label("category"),
            complaints.c.priority.label("priority"),
            agents.c.name.label("owner"),
            complaints.c.status.label("status"),
            received.label("received_at"),
            responded.label("first_response_at"),
            (received + target).label("due_at"),
            target.label("target_s"),
        )
        .select_from(
            complaints.join(customers, customers.c.id == complaints.c.customer_id)
            .join(categories, categories.c.id == complaints.c.category_id)
            .join(targets, targets.c.priority == complaints.c.priority)
            .outerjoin(agents, agents.c.id == complaints.c.owner_id)
        )
        .where(complaints.c.status.in_(QUEUE_STATUSES))
    )
    if owner is not None:
        query = query.where(agents.c.name == text_value(owner))
    text = clean_filter(filter)
    if text is not None:
        query = query.where(
            _matches(
                text,
                [
                    complaints.c.ref,
                    customers.c.ref,
                    customers.c.name,
                    categories.c.key,
                    complaints.c.priority,
                    agents.c.name,
                ],
                session=session,
            )
        )
    return query.subquery("queue")


def _queue_row(row: sa.Row[Any]) -> QueueRow:
    return queue_row(tuple(row)[1:])  # after the id


def queue_count(*, session: Session, filter: str | None = None, owner: str | None = None) -> int:
    """How many complaints are in the queue (matching ``filter``, owned by ``owner``)."""
    if clean_filter(filter) is None:
        # No name is needed: the complaints (and their SLA targets) say it all.
        return queue_count_all(session, owner)
    queue = _queue(filter, owner, session=session)
    return int(session.execute(sa.select(sa.func.count()).select_from(queue)).scalar_one())


def queue_page(
    *,
    session: Session,
    offset: int,
    limit: int,
    filter: str | None = None,
    owner: str | None = None,
) -> list[QueueRow]:
    """``limit`` complaints of the queue from position ``offset``, most pressing first.

    Without a filter the queue is put in order from the complaints alone and the names are
    joined for the page's rows only (``desk.store.pages``).
    """
    if clean_filter(filter) is None:
        return queue_page_all(session, offset, limit, owner)
    queue = _queue(filter, owner, session=session)
    rows = session.execute(
        sa.select(queue)
        .order_by(queue.c.due_at, queue.c.id)
        .offset(max(offset, 0))
        .limit(max(limit, 0))
    ).all()
    return [_queue_row(row) for row in rows]


def queue_position(
    ref: str, *, session: Session, filter: str | None = None, owner: str | None = None
) -> int | None:
    """The position of complaint ``ref`` in the queue (None when it is not in it)."""
    queue = _queue(filter, owner, session=session)
    found = session.execute(
        sa.select(queue.c.due_at, queue.c.id).where(queue.c.ref == text_value(ref))
    ).first()
    if found is None:
        return None
    due, ident = found
    before = sa.or_(
        queue.c.due_at < integer(due),
        sa.and_(queue.c.due_at == integer(due), queue.c.id < integer(ident)),
    )
    return int(
        session.execute(sa.select(sa.func.count()).select_from(queue).where(before)).scalar_one()
    )


# --- recent calls ----------------------------------------------------------------------------


def _call_conditions(text: str, *, session: Session, per_row: bool) -> list[ColumnElement[bool]]:
    """The ways a call can match ``text``: its own ref or notes, or its customer, agent,
    complaint, channel or direction.

    ``per_row`` looks each call's customer, agent and complaint up by primary key as the calls
    are walked: cheap when matches are common and only a page is wanted. Otherwise the names
    are matched in their own tables first and calls picked by id, so that a scan of all the
    calls (a count, a rare text) touches no other table.
    """
    calls = table(Call)
    customers = table(Customer)
    agents = table(Agent)
    complaints = table(Complaint)
    customer_match = _matches(text, [customers.c.ref, customers.c.name], session=session)
    agent_match = _matches(text, [agents.c.name], session=session)
    complaint_match = _matches(text, [complaints.c.ref], session=session)
    conditions = [_matches(text, [calls.c.ref, calls.c.notes], session=session)]
    if per_row:
        conditions += [
            sa.exists().where(customers.c.id == calls.c.customer_id, customer_match),
            sa.exists().where(agents.c.id == calls.c.agent_id, agent_match),
            sa.exists().where(complaints.c.id == calls.c.complaint_id, complaint_match),
        ]
    else:
        conditions += [
            calls.c.customer_id.in_(sa.select(customers.c.id).where(customer_match)),
            calls.c.agent_id.in_(sa.select(agents.c.id).where(agent_match)),
            calls.c.complaint_id.in_(sa.select(complaints.c.id).where(complaint_match)),
        ]
    # Channel and direction hold a handful of known words: match those here, and compare
    # the column by equality, which costs far less per row than a LIKE.
    needle = text.casefold()
    channels = [c.value for c in Channel if needle in c.value]
    directions = [d.value for d in Direction if needle in d.value]
    if channels:
        conditions.append(calls.c.channel.in_(channels))
    if directions:
        conditions.append(calls.c.direction.in_(directions))
    return conditions


def _calls_ids(filter: str | None, *, session: Session, per_row: bool = False) -> sa.Select[Any]:
    """The ids and start instants of the calls matching ``filter``, unordered."""
    calls = table(Call)
    query = sa.select(calls.c.id.label("id"), calls.c.started_at.label("started_at"))
    text = clean_filter(filter)
    if text is None:
        return query
    return query.where(sa.or_(*_call_conditions(text, session=session, per_row=per_row)))


def calls_count(*, session: Session, filter: str | None = None) -> int:
    """How many calls there are (matching ``filter``)."""
    if clean_filter(filter) is None:
        return calls_count_all(session)
    ids = _calls_ids(filter, session=session).subquery("matching")
    return int(session.execute(sa.select(sa.func.count()).select_from(ids)).scalar_one())


FILTER_WINDOW = 5000
"""A filtered page near either end of the calls is first looked for among this many calls at
that end, walking them in order and testing each; only when they hold too few matches are all
the calls searched."""


def _filtered_page_ids(
    filter: str | None,
    order: Sequence[ColumnElement[Any]],
    offset: int,
    limit: int,
    *,
    reverse: bool,
    session: Session,
) -> sa.Subquery | None:
    """The page's call ids when the newest (``reverse``: oldest) calls hold all of it, else None.

    A page of a common text is found a few hundred calls in; a rare one would walk every call,
    testing each by primary-key lookups, which costs more than matching the names in their own
    tables first. So the walk is bounded by ``FILTER_WINDOW`` calls: the window is every call
    started at or after (before) the window's last call, and when it holds ``offset + limit``
    matches, they are the first ones of the whole list in that order.
    """
    text = clean_filter(filter)
    if text is None or limit == 0 or offset + limit > FILTER_WINDOW:
        return None
    calls = table(Call)
    start = epoch(calls.c.started_at)
    edge = session.execute(
        sa.select(start)
        .order_by(start.asc() if reverse else start.desc())
        .offset(FILTER_WINDOW - 1)
        .limit(1)
    ).scalar()
    query = _calls_ids(filter, session=session, per_row=True)
    if edge is not None:
        query = query.where(start <= integer(edge) if reverse else start >= integer(edge))
    found = session.execute(query.order_by(*order).offset(offset).limit(limit)).all()
    if len(found) < limit and edge is not None:
        return None
    ids = [row.id for row in found]
    if not ids:
        # Nothing in the window, and the window is every call: nothing anywhere.
        return sa.select(calls.c.id.label("id")).where(sa.false()).subquery("page")
    return sa.select(calls.c.id.label("id")).where(calls.c.id.in_(ids)).subquery("page")


def calls_page(
    *,
    session: Session,
    offset: int,
    limit: int,
    filter: str | None = None,
    total: int | None = None,
) -> list[CallRow]:
    """``limit`` calls from position ``offset``, newest first.

    ``total`` (the count, when the caller knows it) lets a page in the second half be read
    from the oldest end, so that jumping to the end costs no more than reading the start.
    """
    if clean_filter(filter) is None:
        return calls_page_all(session, offset, limit, total)
    window = calls_window(offset, limit, total)
    if window is None:
        return []
    offset, limit, reverse = window
    calls = table(Call)
    start = epoch(calls.c.started_at)
    order = [start.asc(), calls.c.id.asc()] if reverse else [start.desc(), calls.c.id.desc()]
    ids = _filtered_page_ids(filter, order, offset, limit, reverse=reverse, session=session)
    if ids is None:
        ids = (
            _calls_ids(filter, session=session)
            .order_by(*order)
            .offset(offset)
            .limit(limit)
            .subquery("page")
        )
    customers = table(Customer)
    agents = table(Agent)
    complaints = table(Complaint)
    rows = session.execute(
        sa.select(
            calls.c.ref,
            epoch(calls.c.started_at).label("started_at"),
            epoch(calls.c.ended_at).label("ended_at"),
            customers.c.ref.label("customer_ref"),
            customers.c.name.label("customer_name"),
            agents.c.name.label("agent"),
            calls.c.channel,
            calls.c.direction,
            complaints.c.ref.label("complaint_ref"),
            calls.c.notes,
        )
        .select_from(
            ids.join(calls, calls.c.id == ids.c.id)
            .join(customers, customers.c.id == calls.c.customer_id)
            .join(agents, agents.c.id == calls.c.agent_id)
            .outerjoin(complaints, complaints.c.id == calls.c.complaint_id)
        )
        .order_by(*order)
    ).all()
    result = [call_row(tuple(row)) for row in rows]
    if reverse:
        result.reverse()
    return result


def calls_position(ref: str, *, session: Session, filter: str | None = None) -> int | None:
    """The position of call ``ref`` in the newest-first list (None when it is not in it)."""
    calls = table(Call)
    matching = _calls_ids(filter, session=session).subquery("matching")
    found = session.execute(
        sa.select(epoch(calls.c.started_at), calls.c.id)
        .select_from(calls.join(matching, matching.c.id == calls.c.id))
        .where(calls.c.ref == text_value(ref))
    ).first()
    if found is None:
        return None
    started, ident = found
    newer = sa.or_(
        epoch(matching.c.started_at) > integer(started),
        sa.and_(epoch(matching.c.started_at) == integer(started), matching.c.id > integer(ident)),
    )
    return int(
        session.execute(sa.select(sa.func.count()).select_from(matching).where(newer)).scalar_one()
    )
