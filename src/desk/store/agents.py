"""Agents: who works the desk, and what they may do."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from desk.errors import InvalidInput, PermissionDenied, RuleViolation
from desk.models import Agent, AgentRead, Role
from desk.store import audit
from desk.store.lookup import agent_by_name


def _read(agent: Agent) -> AgentRead:
    return AgentRead(name=agent.name, role=Role(agent.role), active=agent.active)


def has_supervisor(*, session: Session) -> bool:
    """Whether the desk has an active supervisor yet (before that, anyone may add people)."""
    query = select(Agent.id).where(Agent.role == Role.supervisor.value, Agent.active == True)  # noqa: E712
    return session.exec(query).first() is not None


def require_actor(name: str | None, *, session: Session, supervisor: bool = False) -> Agent:
    """The acting agent, refused when unknown, inactive, or not a supervisor when one is needed."""
    if not name:
        raise InvalidInput(
            "say who is acting: pass --agent NAME or set DESK_AGENT (see `desk agent list`)"
        )
    agent = agent_by_name(name, session=session)
    if supervisor and agent.role != Role.supervisor.value:
        raise PermissionDenied(f"{name} is an agent; this needs a supervisor")
    return agent


def add_agent(
    name: str, role: Role, *, session: Session, actor: str | None, now: datetime
) -> AgentRead:
    """Add an agent. Once the desk has a supervisor, only a supervisor may add people."""
    name = name.strip()
    if not name:
        raise InvalidInput("an agent needs a name")
    if has_supervisor(session=session):
        acting = require_actor(actor, session=session, supervisor=True).name
    else:
        acting = actor or name  # bootstrap: the first people add themselves
    if session.exec(select(Agent.id).where(Agent.name == name)).first() is not None:
        raise RuleViolation(f"an agent named {name!r} already exists")
    agent = Agent(name=name, role=role.value, active=True)
    session.add(agent)
    session.flush()
    audit.record(
        session=session,
        actor=acting,
        at=now,
        action="create",
        entity="agent",
        entity_ref=name,
        after={"name": name, "role": role.value, "active": True},
    )
    return _read(agent)


def set_active(
    name: str, active: bool, *, session: Session, actor: str | None, now: datetime
) -> AgentRead:
    """Deactivate (or reactivate) an agent; their history stays."""
    acting = require_actor(actor, session=session, supervisor=True).name
    agent = agent_by_name(name, session=session, active_only=False)
    if agent.active == active:
        return _read(agent)
    before = {"active": agent.active}
    agent.active = active
    session.add(agent)
    session.flush()
    audit.record(
        session=session,
        actor=acting,
        at=now,
        action="update",
        entity="agent",
        entity_ref=name,
        before=before,
        after={"active": active},
    )
    return _read(agent)


def list_agents(*, session: Session, include_inactive: bool = True) -> list[AgentRead]:
    """Agents by name."""
    query = select(Agent).order_by(col(Agent.name))
    if not include_inactive:
        query = query.where(Agent.active == True)  # noqa: E712
    return [_read(agent) for agent in session.exec(query).all()]
