"""Finding records by the names people use for them, with messages that say what was missing."""

from __future__ import annotations

from sqlmodel import Session, col, select

from desk.errors import NotFound
from desk.models import Agent, Category, Complaint, Customer


def customer_by_ref(ref: str, *, session: Session) -> Customer:
    """The customer with ``ref``, or NotFound."""
    found = session.exec(select(Customer).where(Customer.ref == ref)).first()
    if found is None:
        raise NotFound(f"no customer with ref {ref!r} (add one with `desk customer add`)")
    return found


def agent_by_name(name: str, *, session: Session, active_only: bool = True) -> Agent:
    """The agent called ``name``, or NotFound."""
    found = session.exec(select(Agent).where(Agent.name == name)).first()
    if found is None:
        raise NotFound(f"no agent named {name!r} (add one with `desk agent add {name!r}`)")
    if active_only and not found.active:
        raise NotFound(f"agent {name!r} is deactivated")
    return found


def category_by_key(key: str, *, session: Session, active_only: bool = True) -> Category:
    """The leave-reason category ``key``, or NotFound listing the ones there are."""
    found = session.exec(select(Category).where(Category.key == key)).first()
    if found is None or (active_only and not found.active):
        keys = session.exec(
            select(Category.key).where(Category.active == True).order_by(col(Category.position))  # noqa: E712
        ).all()
        raise NotFound(f"unknown leave-reason {key!r}; use one of: {', '.join(keys)}")
    return found


def complaint_by_ref(ref: str, *, session: Session) -> Complaint:
    """The complaint with ``ref``, or NotFound."""
    found = session.exec(select(Complaint).where(Complaint.ref == ref)).first()
    if found is None:
        raise NotFound(f"no complaint with ref {ref!r}")
    return found


def ref_taken(model: type[Customer] | type[Complaint], ref: str, *, session: Session) -> bool:
    """Whether a record of ``model`` already uses ``ref``."""
    return session.exec(select(model.id).where(model.ref == ref)).first() is not None
