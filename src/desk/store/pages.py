"""The unfiltered pages and counts of the queue and the recent calls, in plain SQL: what the
main screen shows when it opens, readable with sqlite3 before the data layer is loaded
(``desk.reads``). ``desk.store.queue`` reads unfiltered lists through these same statements.

The queue is put in order from the complaints and their SLA targets alone (the instant the
target that applies now falls due, then the id), and the names are joined for the page's rows
only; the calls are paged by their start (newest first) and read from the other end for a page
in the second half, so that the last page costs what the first does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from desk.kinds import Status
from desk.store.rows import CallRow, QueueRow, call_row, queue_row

if TYPE_CHECKING:
    from desk.reads import Reads

_IN_QUEUE = f"c.status IN ('{Status.open.value}', '{Status.pending.value}')"
_TARGET = "CASE WHEN c.first_response_at IS NULL THEN t.first_response_s ELSE t.resolution_s END"
_DUE = f"c.received_at + {_TARGET}"
_OWNED = " AND c.owner_id IN (SELECT id FROM agents WHERE name = :owner)"


def clean_filter(filter: str | None) -> str | None:
    """The text a filter holds (None for no filter, or only blanks)."""
    text = (filter or "").strip()
    return text or None


def queue_count_all(reads: Reads, owner: str | None = None) -> int:
    """How many complaints are in the queue (owned by ``owner``)."""
    from desk.reads import rows

    sql = (
        "SELECT count(*) FROM complaints c JOIN sla_targets t ON t.priority = c.priority "
        f"WHERE {_IN_QUEUE}" + (_OWNED if owner is not None else "")
    )
    ((count,),) = rows(reads, sql, {"owner": owner} if owner is not None else {})
    return int(count)


def queue_page_all(
    reads: Reads, offset: int, limit: int, owner: str | None = None
) -> list[QueueRow]:
    """``limit`` complaints of the queue from position ``offset``, most pressing first."""
    from desk.reads import rows

    owned = _OWNED if owner is not None else ""
    sql = (
        f'SELECT c.ref, cu.ref, cu.name, g."key", c.priority, a.name, c.status, '
        f"c.received_at, c.first_response_at, {_DUE}, {_TARGET} "
        "FROM (SELECT c.id AS id FROM complaints c "
        "JOIN sla_targets t ON t.priority = c.priority "
        f"WHERE {_IN_QUEUE}{owned} ORDER BY {_DUE}, c.id LIMIT :limit OFFSET :offset) AS page "
        "JOIN complaints c ON c.id = page.id "
        "JOIN customers cu ON cu.id = c.customer_id "
        "JOIN categories g ON g.id = c.category_id "
        "JOIN sla_targets t ON t.priority = c.priority "
        "LEFT JOIN agents a ON a.id = c.owner_id "
        f"ORDER BY {_DUE}, c.id"
    )
    params: dict[str, object] = {"limit": max(limit, 0), "offset": max(offset, 0)}
    if owner is not None:
        params["owner"] = owner
    return [queue_row(row) for row in rows(reads, sql, params)]


def calls_count_all(reads: Reads) -> int:
    """How many calls there are."""
    from desk.reads import rows

    ((count,),) = rows(reads, "SELECT count(*) FROM calls")
    return int(count)


def calls_window(offset: int, limit: int, total: int | None) -> tuple[int, int, bool] | None:
    """Where a page of the newest-first calls is read: (offset, limit, from the oldest end),
    or None when it holds no call. A page in the second half (``total``: the count, when
    known) is read from the oldest end, so that jumping to the end costs what the start does."""
    offset, limit = max(offset, 0), max(limit, 0)
    if total is not None and offset * 2 > total:
        end = min(offset + limit, total)
        if end <= offset:
            return None
        return total - end, end - offset, True
    return offset, limit, False


def calls_page_all(
    reads: Reads, offset: int, limit: int, total: int | None = None
) -> list[CallRow]:
    """``limit`` calls from position ``offset``, newest first."""
    from desk.reads import rows

    window = calls_window(offset, limit, total)
    if window is None:
        return []
    offset, limit, reverse = window
    way = "ASC" if reverse else "DESC"
    sql = (
        "SELECT ca.ref, ca.started_at, ca.ended_at, cu.ref, cu.name, a.name, ca.channel, "
        "ca.direction, co.ref, ca.notes "
        f"FROM (SELECT id FROM calls ORDER BY started_at {way}, id {way} "
        "LIMIT :limit OFFSET :offset) AS page "
        "JOIN calls ca ON ca.id = page.id "
        "JOIN customers cu ON cu.id = ca.customer_id "
        "JOIN agents a ON a.id = ca.agent_id "
        "LEFT JOIN complaints co ON co.id = ca.complaint_id "
        f"ORDER BY ca.started_at {way}, ca.id {way}"
    )
    found = [call_row(row) for row in rows(reads, sql, {"limit": limit, "offset": offset})]
    if reverse:
        found.reverse()
    return found
