"""Bare ``desk``: open the full-screen desk on the chosen database as the chosen agent."""

from __future__ import annotations

from typing import TYPE_CHECKING

from desk.cli.context import DeskContext
from desk.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from sqlmodel import Session


def open_desk(desk: DeskContext) -> None:
    """Start the TUI; refuse clearly when the agent is missing or unknown."""
    from desk.models import AgentRead, Role
    from desk.store import meta
    from desk.store.lookup import agent_by_name

    engine = desk.engine()
    with desk.reading() as session:
        story_end = meta.demo_now(session=session)
        if not desk.actor:
            known = _agent_names(session)
            hint = f" (agents here: {', '.join(known)})" if known else ""
            raise InvalidInput(
                'say who you are: desk --agent NAME, or set DESK_AGENT, or put agent = "NAME" '
                f"in the settings file{hint}. Add yourself with `desk agent add NAME`."
            )
        try:
            found = agent_by_name(desk.actor, session=session)
        except NotFound as exc:
            known = _agent_names(session)
            hint = f" Agents here: {', '.join(known)}." if known else ""
            raise NotFound(f"{exc.message}.{hint}") from exc
        agent = AgentRead(name=found.name, role=Role(found.role), active=found.active)

    from desk.clock import story_clock, system_now
    from desk.tui.app import DeskApp

    app = DeskApp(
        engine=engine,
        agent=agent,
        settings=desk.settings,
        clock=story_clock(story_end) if story_end else system_now,
        story_end=story_end,
    )
    app.run()


def _agent_names(session: Session) -> list[str]:
    """The active agents' names, for a hint when the agent given is missing or unknown."""
    from desk.store.agents import list_agents

    return [a.name for a in list_agents(session=session, include_inactive=False)]
