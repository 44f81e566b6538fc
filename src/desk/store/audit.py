"""The audit log: every change appended in the same transaction as the change itself."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlmodel import Session, col, select

from desk.models import AuditEntry, AuditRead


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    return value


def _dump(values: dict[str, Any] | None) -> str | None:
    if values is None:
        return None
    return json.dumps({k: _jsonable(v) for k, v in values.items()}, sort_keys=True)


def record(
    *,
    session: Session,
    actor: str,
    at: datetime,
    action: str,
    entity: str,
    entity_ref: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """Append one audit entry to the current transaction."""
    session.add(
        AuditEntry(
            at=at,
            agent=actor,
            action=action,
            entity=entity,
            entity_ref=entity_ref,
            before=_dump(before),
            after=_dump(after),
        )
    )


class Entry(NamedTuple):
    """One audit entry of a batch written with ``record_many``."""

    action: str
    entity: str
    entity_ref: str
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None


_TABLE: sa.Table = AuditEntry.__table__  # type: ignore[attr-defined]


def record_many(entries: list[Entry], *, session: Session, actor: str, at: datetime) -> None:
    """Append ``entries`` to the current transaction, in their order, with one statement: the
    same rows ``record`` would add one by one.

    Changes the session still holds are written first, so that entries keep the order in which
    they were made.
    """
    if not entries:
        return
    session.flush()
    session.execute(
        sa.insert(_TABLE),
        [
            {
                "at": at,
                "agent": actor,
                "action": entry.action,
                "entity": entry.entity,
                "entity_ref": entry.entity_ref,
                "before": _dump(entry.before),
                "after": _dump(entry.after),
            }
            for entry in entries
        ],
    )


def history(entity: str, entity_ref: str, *, session: Session) -> list[AuditRead]:
    """Every audit entry of one record, oldest first.

    Records an import created in bulk share one entry per batch (action ``import``, its
    ``after`` naming the file and each new record's ref and line): such an entry counts for
    each record it names.
    """
    own = session.exec(
        select(AuditEntry).where(AuditEntry.entity == entity, AuditEntry.entity_ref == entity_ref)
    ).all()
    batches = session.exec(
        select(AuditEntry).where(
            AuditEntry.entity == entity,
            AuditEntry.action == IMPORT,
            col(AuditEntry.after).contains(json.dumps(entity_ref), autoescape=True),
        )
    ).all()
    named = [entry for entry in batches if entity_ref in _created(entry)]
    rows = sorted([*own, *named], key=lambda entry: entry.id or 0)
    return [AuditRead.model_validate(row, from_attributes=True) for row in rows]


IMPORT = "import"
"""The action of an entry recording a batch of records an import created in bulk."""


def _created(entry: AuditEntry) -> dict[str, Any]:
    """The records (ref → line of the file) a bulk import entry names."""
    try:
        after = json.loads(entry.after or "{}")
    except ValueError:
        return {}
    created = after.get("created") if isinstance(after, dict) else None
    return created if isinstance(created, dict) else {}


def entries(
    *, session: Session, start: datetime | None = None, end: datetime | None = None
) -> list[AuditRead]:
    """Audit entries in [start, end), oldest first."""
    query = select(AuditEntry)
    if start is not None:
        query = query.where(AuditEntry.at >= start)
    if end is not None:
        query = query.where(AuditEntry.at < end)
    rows = session.exec(query.order_by(col(AuditEntry.id))).all()
    return [AuditRead.model_validate(row, from_attributes=True) for row in rows]
