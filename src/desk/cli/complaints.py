"""``desk complaint``: open, respond to, resolve and reopen complaints."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from desk.cli.context import get, print_json
from desk.models import Channel, ComplaintCreate, ComplaintRead, Priority, Status
from desk.store import complaints as store
from desk.timefmt import format_instant

app = typer.Typer(help="Open, respond to, resolve and reopen complaints.", no_args_is_help=True)
console = Console(highlight=False, soft_wrap=True)

VersionOption = Annotated[
    int | None,
    typer.Option("--version", help="The version you based this on; refused if it changed since."),
]
AtOption = Annotated[str | None, typer.Option("--at", help="When (default now).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the complaint as JSON.")]


def _report(complaint: ComplaintRead, verb: str, as_json: bool) -> None:
    if as_json:
        print_json(complaint.model_dump(mode="json"))
    else:
        console.print(
            f"{verb} complaint {complaint.ref} ({complaint.category}, {complaint.priority.value}, "
            f"{complaint.status.value}, version {complaint.version})"
        )


@app.command("open")
def open_(
    ctx: typer.Context,
    customer: Annotated[str, typer.Argument(help="The customer's ref.")],
    reason: Annotated[
        str,
        typer.Option(
            help="Leave-reason it threatens: competitor, service, product, price, no_need, moved, other."
        ),
    ],
    summary: Annotated[str, typer.Option(help="What the customer complains about.")] = "",
    priority: Annotated[
        Priority, typer.Option(help="urgent, high, normal or low.")
    ] = Priority.normal,
    channel: Annotated[Channel, typer.Option(help="How it reached us.")] = Channel.phone,
    owner: Annotated[str | None, typer.Option(help="Agent who owns it (default: you).")] = None,
    detail: Annotated[
        str | None, typer.Option(help="Free-text detail on the leave-reason.")
    ] = None,
    received_at: Annotated[
        str | None, typer.Option("--received-at", help="When it came in (default now).")
    ] = None,
    ref: Annotated[str | None, typer.Option(help="Your own ref (default CP-<n>).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Open a complaint, filed under the leave-reason it threatens."""
    desk = get(ctx)
    received = desk.instant(received_at, "--received-at") or desk.now()
    with desk.writing() as session:
        actor = desk.acting(session)
        opened = store.open_complaint(
            ComplaintCreate(
                ref=ref,
                customer_ref=customer,
                received_at=received,
                category=reason,
                detail=detail,
                priority=priority,
                channel=channel,
                owner=owner or actor,
                summary=summary,
            ),
            session=session,
            actor=actor,
            now=desk.now(),
        )
    _report(opened, "Opened", as_json)


@app.command("respond")
def respond(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="The complaint's ref.")],
    pending: Annotated[bool, typer.Option(help="Now waiting on the customer.")] = False,
    at: AtOption = None,
    version: VersionOption = None,
    as_json: JsonOption = False,
) -> None:
    """Record a response (the first one sets the first-response time)."""
    desk = get(ctx)
    with desk.writing() as session:
        actor = desk.acting(session)
        done = store.respond(
            ref,
            session=session,
            actor=actor,
            now=desk.now(),
            at=desk.instant(at, "--at"),
            expected_version=version,
            pending=pending,
        )
    _report(done, "Responded to", as_json)


@app.command("resolve")
def resolve(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="The complaint's ref.")],
    at: AtOption = None,
    version: VersionOption = None,
    as_json: JsonOption = False,
) -> None:
    """Resolve a complaint."""
    desk = get(ctx)
    with desk.writing() as session:
        actor = desk.acting(session)
        done = store.resolve(
            ref,
            session=session,
            actor=actor,
            now=desk.now(),
            at=desk.instant(at, "--at"),
            expected_version=version,
        )
    _report(done, "Resolved", as_json)


@app.command("reopen")
def reopen(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="The complaint's ref.")],
    version: VersionOption = None,
    as_json: JsonOption = False,
) -> None:
    """Reopen a resolved complaint."""
    desk = get(ctx)
    with desk.writing() as session:
        actor = desk.acting(session)
        done = store.reopen(
            ref, session=session, actor=actor, now=desk.now(), expected_version=version
        )
    _report(done, "Reopened", as_json)


@app.command("show")
def show(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="The complaint's ref.")],
    as_json: JsonOption = False,
) -> None:
    """Show one complaint."""
    desk = get(ctx)
    with desk.reading() as session:
        found = store.get_complaint(ref, session=session)
    if as_json:
        print_json(found.model_dump(mode="json"))
        return
    tz = desk.settings.tz
    for label, value in [
        ("ref", found.ref),
        ("customer", f"{found.customer_name} ({found.customer_ref})"),
        ("received", format_instant(found.received_at, tz)),
        ("leave-reason", found.category + (f" — {found.detail}" if found.detail else "")),
        ("priority", found.priority.value),
        ("channel", found.channel.value),
        ("owner", found.owner or "unassigned"),
        ("status", found.status.value),
        ("first response", format_instant(found.first_response_at, tz) or "—"),
        ("resolved", format_instant(found.resolved_at, tz) or "—"),
        ("summary", found.summary),
        ("version", str(found.version)),
    ]:
        console.print(f"{label:>15}  {value}", markup=False)


@app.command("list")
def list_(
    ctx: typer.Context,
    status: Annotated[
        list[Status] | None, typer.Option(help="Statuses to list (default open and pending).")
    ] = None,
    customer: Annotated[str | None, typer.Option(help="Only this customer's.")] = None,
    limit: Annotated[int, typer.Option(min=1)] = 50,
    as_json: JsonOption = False,
) -> None:
    """List complaints, oldest first."""
    desk = get(ctx)
    statuses = tuple(status) if status else (Status.open, Status.pending)
    with desk.reading() as session:
        found = store.list_complaints(
            session=session, statuses=statuses, customer_ref=customer, limit=limit
        )
    if as_json:
        print_json([c.model_dump(mode="json") for c in found])
        return
    table = Table("ref", "received", "customer", "category", "priority", "owner", "status")
    for c in found:
        table.add_row(
            c.ref,
            format_instant(c.received_at, desk.settings.tz),
            c.customer_name,
            c.category,
            c.priority.value,
            c.owner or "",
            c.status.value,
        )
    console.print(table)
