"""Finding records by the names people use for them, with messages that say what was missing."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

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


# --- many at once (an import's batch) -----------------------------------------------------------

IN_CHUNK = 2000
"""Values asked for in one ``IN`` query (well below every engine's limit of bound values)."""


def _chunks(values: Iterable[str]) -> Iterator[list[str]]:
    wanted = sorted(set(values))
    for start in range(0, len(wanted), IN_CHUNK):
        yield wanted[start : start + IN_CHUNK]


def customer_ids(refs: Iterable[str], *, session: Session) -> dict[str, int]:
    """The ids of the customers among ``refs`` that exist (ref → id)."""
    found: dict[str, int] = {}
    for part in _chunks(refs):
        for id_, ref in session.exec(
            select(Customer.id, Customer.ref).where(col(Customer.ref).in_(part))
        ):
            assert id_ is not None
            found[ref] = id_
    return found


def refs_taken(
    model: type[Customer] | type[Complaint], refs: Iterable[str], *, session: Session
) -> set[str]:
    """Which of ``refs`` a record of ``model`` already uses."""
    taken: set[str] = set()
    for part in _chunks(refs):
        taken.update(session.exec(select(model.ref).where(col(model.ref).in_(part))))
    return taken


def agents_by_name(names: Iterable[str], *, session: Session) -> dict[str, tuple[int, bool]]:
    """The agents among ``names`` that exist: name → (id, whether active)."""
    found: dict[str, tuple[int, bool]] = {}
    for part in _chunks(names):
        for id_, name, active in session.exec(
            select(Agent.id, Agent.name, Agent.active).where(col(Agent.name).in_(part))
        ):
            assert id_ is not None
            found[name] = (id_, active)
    return found


def categories_by_key(*, session: Session) -> dict[str, tuple[int, bool]]:
    """Every leave-reason category: key → (id, whether active)."""
    found: dict[str, tuple[int, bool]] = {}
    for id_, key, active in session.exec(select(Category.id, Category.key, Category.active)):
        assert id_ is not None
        found[key] = (id_, active)
    return found
