"""What supervisors set up: the leave-reason categories and the response-time targets.

Only a supervisor changes them, and every change is audited. A category is never deleted (old
complaints and departures keep pointing at it): it is retired, and may be brought back.
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlmodel import Session, col, select

from desk.errors import InvalidInput, NotFound, RuleViolation
from desk.models import Category, Priority, SlaTarget
from desk.store import audit
from desk.store.agents import require_actor

_KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


def list_categories(*, session: Session) -> list[Category]:
    """Every category in the order supervisors arranged them, retired ones included."""
    return list(session.exec(select(Category).order_by(col(Category.position))).all())


def _category(key: str, *, session: Session) -> Category:
    found = session.exec(select(Category).where(Category.key == key)).first()
    if found is None:
        keys = ", ".join(category.key for category in list_categories(session=session))
        raise NotFound(f"no category {key!r}; the categories are: {keys}")
    return found


def add_category(key: str, label: str, *, session: Session, actor: str, now: datetime) -> Category:
    """A new leave-reason, listed after the others."""
    acting = require_actor(actor, session=session, supervisor=True).name
    key, label = key.strip(), label.strip()
    if not _KEY.match(key):
        raise InvalidInput(
            f"category key {key!r}: use lower-case letters, digits and _ (e.g. billing_error), "
            "starting with a letter, at most 40 characters"
        )
    if not label:
        raise InvalidInput("a category needs a label (what the reason means)")
    if session.exec(select(Category.id).where(Category.key == key)).first() is not None:
        raise RuleViolation(f"a category {key!r} already exists")
    last = session.exec(select(Category.position).order_by(col(Category.position).desc())).first()
    category = Category(key=key, label=label, active=True, position=(last or 0) + 1)
    session.add(category)
    session.flush()
    audit.record(
        session=session,
        actor=acting,
        at=now,
        action="create",
        entity="category",
        entity_ref=key,
        after={"key": key, "label": label, "active": True},
    )
    return category


def change_category(
    key: str,
    *,
    session: Session,
    actor: str,
    now: datetime,
    label: str | None = None,
    active: bool | None = None,
) -> Category:
    """Relabel a category, or retire it (``active=False``) or bring it back."""
    acting = require_actor(actor, session=session, supervisor=True).name
    category = _category(key, session=session)
    before: dict[str, object] = {}
    after: dict[str, object] = {}
    if label is not None and label.strip() != category.label:
        if not label.strip():
            raise InvalidInput("a category needs a label (what the reason means)")
        before["label"], after["label"] = category.label, label.strip()
        category.label = label.strip()
    if active is not None and active != category.active:
        if not active:
            still = [c for c in list_categories(session=session) if c.active and c.key != key]
            if not still:
                raise RuleViolation("the last active category cannot be retired")
        before["active"], after["active"] = category.active, active
        category.active = active
    if after:
        session.add(category)
        session.flush()
        audit.record(
            session=session,
            actor=acting,
            at=now,
            action="update",
            entity="category",
            entity_ref=key,
            before=before,
            after=after,
        )
    return category


def list_sla(*, session: Session) -> list[SlaTarget]:
    """The response-time targets, most urgent priority first."""
    order = {priority.value: index for index, priority in enumerate(Priority)}
    targets = session.exec(select(SlaTarget)).all()
    return sorted(targets, key=lambda target: order.get(target.priority, len(order)))


def set_sla(
    priority: Priority,
    *,
    session: Session,
    actor: str,
    now: datetime,
    first_response_s: int | None = None,
    resolution_s: int | None = None,
) -> SlaTarget:
    """Change the targets of one priority (seconds); the first response may not be given more
    time than the resolution."""
    acting = require_actor(actor, session=session, supervisor=True).name
    target = session.get(SlaTarget, priority.value)
    if target is None:
        target = SlaTarget(priority=priority.value, first_response_s=0, resolution_s=0)
    first = target.first_response_s if first_response_s is None else first_response_s
    resolution = target.resolution_s if resolution_s is None else resolution_s
    if first <= 0 or resolution <= 0:
        raise InvalidInput("response-time targets must be longer than zero")
    if first > resolution:
        raise RuleViolation(
            f"the first-response target ({first} s) would be longer than the resolution "
            f"target ({resolution} s)"
        )
    before = {"first_response_s": target.first_response_s, "resolution_s": target.resolution_s}
    after = {"first_response_s": first, "resolution_s": resolution}
    if before == after:
        return target
    target.first_response_s, target.resolution_s = first, resolution
    session.add(target)
    session.flush()
    audit.record(
        session=session,
        actor=acting,
        at=now,
        action="update",
        entity="sla_target",
        entity_ref=priority.value,
        before=before,
        after=after,
    )
    return target
