"""``desk call``: log contacts with customers (scriptable, e.g. from a phone system)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from desk.cli.context import get, print_json
from desk.models import CallCreate, Channel, Direction
from desk.store import calls as store

app = typer.Typer(help="Log calls.", no_args_is_help=True)
console = Console(highlight=False, soft_wrap=True)


@app.command("log")
def log(
    ctx: typer.Context,
    customer: Annotated[str, typer.Argument(help="The customer's ref.")],
    channel: Annotated[Channel, typer.Option(help="How they reached us.")] = Channel.phone,
    direction: Annotated[Direction, typer.Option(help="inbound or outbound.")] = Direction.inbound,
    started_at: Annotated[
        str | None, typer.Option("--started-at", help="Start (default now).")
    ] = None,
    ended_at: Annotated[
        str | None, typer.Option("--ended-at", help="End (default: same as start).")
    ] = None,
    notes: Annotated[str, typer.Option(help="What was said.")] = "",
    complaint: Annotated[
        str | None, typer.Option(help="Ref of the complaint this call is about.")
    ] = None,
    ref: Annotated[
        str | None, typer.Option(help="Your own ref for the call (default CL-<n>).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the logged call as JSON.")] = False,
) -> None:
    """Log a call against a customer, as the acting agent."""
    desk = get(ctx)
    start = desk.instant(started_at, "--started-at") or desk.now()
    end = desk.instant(ended_at, "--ended-at") or start
    with desk.writing() as session:
        actor = desk.acting(session)
        logged = store.log_call(
            CallCreate(
                ref=ref,
                customer_ref=customer,
                agent=actor,
                channel=channel,
                direction=direction,
                started_at=start,
                ended_at=end,
                notes=notes,
                complaint_ref=complaint,
            ),
            session=session,
            actor=actor,
            now=desk.now(),
        )
    if as_json:
        print_json(logged.model_dump(mode="json"))
    else:
        console.print(
            f"Logged call {logged.ref} with {logged.customer_name} ({logged.customer_ref})"
        )
