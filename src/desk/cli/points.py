"""``desk points``: the loyalty programme."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from desk.cli.context import get
from desk.models import PointsCreate
from desk.store import purchases as store

app = typer.Typer(help="Grant loyalty points.", no_args_is_help=True)
console = Console(highlight=False, soft_wrap=True)


@app.command("grant")
def grant(
    ctx: typer.Context,
    customer: Annotated[str, typer.Argument(help="The customer's ref.")],
    points: Annotated[
        int | None, typer.Argument(help="Points (default: the action's points).")
    ] = None,
    reason: Annotated[str, typer.Option(help="Why (required for goodwill).")] = "",
    action: Annotated[
        str, typer.Option(help="goodwill, product_video, app_install, social_share, …")
    ] = "goodwill",
    at: Annotated[str | None, typer.Option("--at", help="When (default now).")] = None,
) -> None:
    """Grant points to a customer: goodwill from an agent, or a loyalty action."""
    desk = get(ctx)
    when = desk.instant(at, "--at") or desk.now()
    with desk.writing() as session:
        actor = desk.acting(session)
        line = store.add_points(
            PointsCreate(
                customer_ref=customer, at=when, action=action, points=points, reason=reason
            ),
            session=session,
            actor=actor,
            now=desk.now(),
            agent=actor,
        )
    console.print(f"Granted {line.points} points ({line.action}) to {line.customer_ref}")
