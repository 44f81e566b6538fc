"""Erasing a customer's personal data while every figure of the desk stays the same.

What goes: the customer's name (replaced by ``ERASED_NAME``), e-mail, phone and ref (replaced by
an anonymous ``ERASED-<n>``: refs are often personal themselves, such as the e-mail address a
tickets file uses), and the free text of every record that belongs to them: call notes,
complaint summaries and details, the notes on their complaints, the details of their
lifecycle events and the reasons on their loyalty ledger lines (except the ones desk wrote
itself for a purchase, ``purchase <ref>``, which name only an invoice).

What stays: every record as an anonymous one, with its instants, categories, priorities,
channels, owners, statuses, amounts, points and refs of its own, so that retention, churn and
losses by leave-reason, revenue with its new / returning / revived buyers, response times and
SLA breaches, loyalty balances and cohorts all come out exactly as before.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict
from sqlmodel import Session, col, select

from desk.errors import NotFound
from desk.models import (
    AuditEntry,
    Call,
    Complaint,
    ComplaintNote,
    Customer,
    ErasedRef,
    LifecycleEvent,
    PointsEntry,
    Purchase,
)
from desk.store import audit, refs
from desk.store.agents import require_actor

ERASED_NAME = "Erased customer"
"""The name an erased customer carries from then on."""

ERASED_PREFIX = "ERASED"
"""Prefix of the anonymous ref an erased customer gets: ``ERASED-000042``."""

ERASE = "erase"
"""The audit action of an erasure (on the customer, and on each complaint it touched)."""

_PURCHASE_REASON = re.compile(r"purchase (?P<ref>.+?)(?: corrected)?")
_CHUNK = 500


class _Plain(BaseModel):
    model_config = ConfigDict(frozen=True)


class ErasedRead(_Plain):
    """What an erasure did."""

    ref: str
    """The customer's ref now (anonymous)."""
    already_erased: bool
    """The customer had been erased before; only text added since was cleared, if any."""
    fields: tuple[str, ...]
    """The customer's own fields that were erased (``ref``, ``name``, ``email``, ``phone``)."""
    cleared: dict[str, int]
    """Records whose free text was cleared, by ``table.column``."""
    kept: dict[str, int]
    """The customer's records kept as anonymous ones, by table."""

    @property
    def changed(self) -> bool:
        """Whether anything was erased at all."""
        return bool(self.fields) or any(self.cleared.values())


def ref_digest(ref: str) -> str:
    """The digest desk keeps of an erased customer's old ref (SHA-256, hexadecimal)."""
    return hashlib.sha256(ref.encode("utf-8")).hexdigest()


def erased_among(refs: Sequence[str], *, session: Session) -> dict[str, datetime]:
    """Which of ``refs`` an erased customer had, with when they were erased."""
    digests: dict[str, str] = {ref_digest(ref): ref for ref in refs}
    found: dict[str, datetime] = {}
    wanted = sorted(digests)
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        for digest, at in session.exec(
            select(ErasedRef.digest, ErasedRef.erased_at).where(col(ErasedRef.digest).in_(chunk))
        ).all():
            found[digests[digest]] = at
    return found


def was_erased(ref: str, *, session: Session) -> bool:
    """Whether the customer with ``ref`` was erased (an ``erase`` entry in the audit log)."""
    query = select(AuditEntry.id).where(
        AuditEntry.entity == "customer", AuditEntry.action == ERASE, AuditEntry.entity_ref == ref
    )
    return session.exec(query.limit(1)).first() is not None


def _customer(ref: str, *, session: Session, lock: bool = False) -> Customer:
    query = select(Customer).where(Customer.ref == ref)
    if lock:
        # On PostgreSQL a colleague's save that adds a record to this customer waits for the
        # erasure to end (SQLite's BEGIN IMMEDIATE already lets one writer in at a time).
        query = query.with_for_update()
    found = session.exec(query).first()
    if found is not None:
        return found
    from desk.store.merge import merged_refs

    now_in = merged_refs(session=session).get(ref)
    if now_in is not None:
        raise NotFound(
            f"cannot erase: customer {ref} was merged into {now_in}; erase {now_in} instead"
        )
    raise NotFound(
        f"cannot erase: no customer with ref {ref!r} (a customer erased already has an "
        f"anonymous ref {ERASED_PREFIX}-<n> now: see `desk customer list --search {ERASED_PREFIX}`)"
    )


class ErasePlan(_Plain):
    """Whom erasing a ref would erase, for a person to confirm."""

    ref: str
    name: str
    already_erased: bool


def plan_erase(ref: str, *, session: Session, actor: str | None) -> ErasePlan:
    """Whom ``erase_customer`` would erase; refused as it would be (not a supervisor, unknown
    ref), with nothing changed."""
    require_actor(actor, session=session, supervisor=True)
    customer = _customer(ref, session=session)
    return ErasePlan(
        ref=customer.ref,
        name=customer.name,
        already_erased=was_erased(customer.ref, session=session),
    )


def _count(table: sa.FromClause, where: sa.ColumnElement[bool], *, session: Session) -> int:
    query = sa.select(sa.func.count()).select_from(table).where(where)
    return int(session.execute(query).scalar_one())


def _update(
    table: sa.Table, where: sa.ColumnElement[bool], values: dict[str, Any], *, session: Session
) -> int:
    result = session.execute(
        sa.update(table).where(where).values(**values).execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def _table(model: Any) -> sa.Table:
    table: sa.Table = model.__table__
    return table


def _purchase_reasons(reasons: Sequence[str], *, session: Session) -> set[str]:
    """The reasons among ``reasons`` that desk wrote for a purchase (``purchase <ref>``)."""
    named = {
        reason: match["ref"]
        for reason in reasons
        if (match := _PURCHASE_REASON.fullmatch(reason)) is not None
    }
    wanted = sorted(set(named.values()))
    existing: set[str] = set()
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        existing.update(
            session.exec(select(Purchase.ref).where(col(Purchase.ref).in_(chunk))).all()
        )
    return {reason for reason, ref in named.items() if ref in existing}


def _clear_ledger(customer_id: int, *, session: Session) -> int:
    ledger = _table(PointsEntry)
    rows = session.execute(
        sa.select(ledger.c.id, ledger.c.action, ledger.c.reason).where(
            ledger.c.customer_id == customer_id, ledger.c.reason != ""
        )
    ).all()
    generated = _purchase_reasons(
        [reason for _, action, reason in rows if action == "purchase"], session=session
    )
    ids = [
        row_id
        for row_id, action, reason in rows
        if not (action == "purchase" and reason in generated)
    ]
    cleared = 0
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        cleared += _update(ledger, ledger.c.id.in_(chunk), {"reason": ""}, session=session)
    return cleared


def _clear_complaints(
    customer_id: int, *, session: Session, actor: str, now: datetime
) -> tuple[int, int, int]:
    """Clear the summary, detail and notes of the customer's complaints; each complaint touched
    gets a new version (so that a colleague's save based on the old text is refused as stale)
    and an ``erase`` entry of its own. Returns (summaries, details, notes) cleared."""
    complaints = _table(Complaint)
    notes = _table(ComplaintNote)
    rows = session.execute(
        sa.select(complaints.c.id, complaints.c.ref, complaints.c.summary, complaints.c.detail)
        .where(complaints.c.customer_id == customer_id)
        .order_by(complaints.c.id)
    ).all()
    with_notes = dict(
        session.execute(
            sa.select(notes.c.complaint_id, sa.func.count())
            .select_from(notes.join(complaints, complaints.c.id == notes.c.complaint_id))
            .where(complaints.c.customer_id == customer_id, notes.c.text != "")
            .group_by(notes.c.complaint_id)
        ).all()
    )
    summaries = details = cleared_notes = 0
    for complaint_id, ref, summary, detail in rows:
        after: dict[str, Any] = {}
        if summary:
            after["summary"] = ""
        if detail is not None:
            after["detail"] = None
        note_count = int(with_notes.get(complaint_id, 0))
        if note_count:
            _update(
                notes,
                sa.and_(notes.c.complaint_id == complaint_id, notes.c.text != ""),
                {"text": ""},
                session=session,
            )
            after["notes_erased"] = note_count
        if not after:
            continue
        _update(
            complaints,
            complaints.c.id == complaint_id,
            {
                "summary": "",
                "detail": None,
                "version": complaints.c.version + 1,
                "updated_at": now,
                "updated_by": actor,
            },
            session=session,
        )
        summaries += "summary" in after
        details += "detail" in after
        cleared_notes += note_count
        audit.record(
            session=session,
            actor=actor,
            at=now,
            action=ERASE,
            entity="complaint",
            entity_ref=ref,
            after=after,
        )
    return summaries, details, cleared_notes


def erase_customer(ref: str, *, session: Session, actor: str | None, now: datetime) -> ErasedRead:
    """Erase the personal data of the customer with ``ref``; supervisors only.

    The customer's name becomes ``ERASED_NAME``, their e-mail and phone are removed and their
    ref becomes ``ERASED-<n>``; the free text of their calls, complaints (with their notes),
    lifecycle events and loyalty ledger is cleared. Every record stays, anonymous, with the
    values the figures are made of, so every figure is the same before and after. Complaints
    whose text was cleared get a new version, so that a save based on the old text is refused.

    The erasure is audited: one ``erase`` entry under the customer's new ref names the fields
    erased and counts the records cleared and kept, and one ``erase`` entry per complaint
    touched names its fields cleared. None of them holds any of the erased values, nor the old
    ref. The old ref's digest goes to ``erased_refs`` (see ``ErasedRef``), so that an import
    naming it later is refused instead of creating the person again.

    Older audit entries are left as they are. The audit log is append-only (the database
    refuses to change or delete its rows, and desk has no path that does), because it is the
    record of who did what and it must not be possible to rewrite it — not even by a
    supervisor erasing someone. So entries written before the erasure (a customer created with
    their name, a call logged with its notes) still hold what they recorded then; they are the
    accountability record kept under the audit log's own rules, are read only through the
    audit views and ``desk export audit``, and nothing in the live records points to them any
    more (they name the old ref, which no record carries now).

    Erasing an erased customer again is harmless: it clears only text added since (if any),
    records nothing when nothing changed, and says ``already_erased``. An unknown ref raises
    NotFound; an agent who is not a supervisor gets PermissionDenied. The caller's transaction
    holds it all.
    """
    acting = require_actor(actor, session=session, supervisor=True).name
    customer = _customer(ref, session=session, lock=True)
    assert customer.id is not None
    customer_id = customer.id
    already = was_erased(customer.ref, session=session)

    fields: list[str] = []
    if not already:
        digest = ref_digest(customer.ref)
        if session.get(ErasedRef, digest) is None:
            session.add(ErasedRef(digest=digest, erased_at=now))
        refs.assign(customer, Customer, ERASED_PREFIX, session=session)
        fields.append("ref")
    if customer.name != ERASED_NAME:
        customer.name = ERASED_NAME
        fields.append("name")
    for field in ("email", "phone"):
        if getattr(customer, field) is not None:
            setattr(customer, field, None)
            fields.append(field)
    session.add(customer)
    session.flush()

    calls, events = _table(Call), _table(LifecycleEvent)
    cleared: dict[str, int] = {
        "calls.notes": _update(
            calls,
            sa.and_(calls.c.customer_id == customer_id, calls.c.notes != ""),
            {"notes": ""},
            session=session,
        )
    }
    summaries, details, notes = _clear_complaints(
        customer_id, session=session, actor=acting, now=now
    )
    cleared["complaints.summary"] = summaries
    cleared["complaints.detail"] = details
    cleared["complaint_notes.text"] = notes
    cleared["lifecycle_events.detail"] = _update(
        events,
        sa.and_(events.c.customer_id == customer_id, events.c.detail.is_not(None)),
        {"detail": None},
        session=session,
    )
    cleared["points_ledger.reason"] = _clear_ledger(customer_id, session=session)

    kept: dict[str, int] = {}
    for name, model in (
        ("calls", Call),
        ("complaints", Complaint),
        ("purchases", Purchase),
        ("lifecycle_events", LifecycleEvent),
        ("points_ledger", PointsEntry),
    ):
        table = _table(model)
        kept[name] = _count(table, table.c.customer_id == customer_id, session=session)
    notes_table, complaints_table = _table(ComplaintNote), _table(Complaint)
    kept["complaint_notes"] = _count(
        notes_table.join(complaints_table, complaints_table.c.id == notes_table.c.complaint_id),
        complaints_table.c.customer_id == customer_id,
        session=session,
    )

    new_ref = customer.ref
    session.flush()
    # The records changed above were written in SQL: what the session holds of them is stale.
    session.expire_all()
    result = ErasedRead(
        ref=new_ref,
        already_erased=already,
        fields=tuple(fields),
        cleared=cleared,
        kept=kept,
    )
    if result.changed:
        audit.record(
            session=session,
            actor=acting,
            at=now,
            action=ERASE,
            entity="customer",
            entity_ref=new_ref,
            after={"erased": sorted(fields), "cleared": cleared, "kept": kept},
        )
        session.flush()
    return result
