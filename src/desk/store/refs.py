"""Readable refs for records created at the desk: ``CU-000042``, ``CP-000317``."""

from __future__ import annotations

import uuid
from typing import Protocol

from sqlmodel import Session, select


class _Reffed(Protocol):
    id: int | None
    ref: str


PREFIXES = {"customers": "CU", "complaints": "CP", "calls": "CL", "purchases": "PU"}


def placeholder() -> str:
    """A unique temporary ref, replaced by ``assign`` once the row has its id."""
    return f"~new-{uuid.uuid4().hex}"


def assign(record: _Reffed, model: type[_Reffed], prefix: str, *, session: Session) -> str:
    """Give a flushed record the ref ``PREFIX-<id>`` (with a suffix if an import took that one)."""
    assert record.id is not None
    base = f"{prefix}-{record.id:06d}"
    candidate, n = base, 1
    while session.exec(select(model.id).where(model.ref == candidate)).first() is not None:
        n += 1
        candidate = f"{base}-{n}"
    record.ref = candidate
    session.add(record)
    session.flush()
    return candidate
