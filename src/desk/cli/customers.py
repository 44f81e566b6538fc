"""``desk customer``: the people and companies who buy, and their lifecycle."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from desk.cli.context import get, print_json
from desk.metrics.loyalty import balance
from desk.models import CustomerCreate, LifecycleCreate, LifecycleKind, Status
from desk.store import calls as call_store
from desk.store import complaints as complaint_store
from desk.store import customers as store
from desk.store import purchases as purchase_store
from desk.store.lookup import customer_by_ref
from desk.timefmt import format_instant

app = typer.Typer(
    help="Add, show and list customers; record leaving and winning back.", no_args_is_help=True
)
console = Console(highlight=False, soft_wrap=True)

AtOption = Annotated[
    str | None, typer.Option("--at", help="When (ISO 8601; default now; no offset = desk's zone).")
]


@app.command("add")
def add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Name of the person or company.")],
    ref: Annotated[
        str | None, typer.Option(help="Your external reference (default: CU-<n>).")
    ] = None,
    email: Annotated[str | None, typer.Option(help="E-mail address.")] = None,
    phone: Annotated[str | None, typer.Option(help="Phone number.")] = None,
    acquired_at: Annotated[
        str | None, typer.Option("--acquired-at", help="When they became a customer (default now).")
    ] = None,
) -> None:
    """Add a customer; they count as acquired from --acquired-at (default now)."""
    desk = get(ctx)
    acquired = desk.instant(acquired_at, "--acquired-at") or desk.now()
    with desk.writing() as session:
        actor = desk.acting(session)
        added = store.add_customer(
            CustomerCreate(ref=ref, name=name, email=email, phone=phone, acquired_at=acquired),
            session=session,
            actor=actor,
            now=desk.now(),
        )
    console.print(f"Added customer {added.ref} {added.name}")


@app.command("show")
def show(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="The customer's ref.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show a customer: profile, lifecycle, complaints, calls, purchases and points."""
    desk = get(ctx)
    tz = desk.settings.tz
    with desk.reading() as session:
        customer = store.get_customer(ref, session=session)
        events = store.timeline(ref, session=session)
        complaints = complaint_store.list_complaints(
            session=session, statuses=tuple(Status), customer_ref=ref, limit=1000
        )
        calls = call_store.list_calls(session=session, customer_ref=ref, limit=20)
        purchases = purchase_store.purchases_of(ref, session=session)
        points = balance(customer_by_ref(ref, session=session).id or 0, session=session)
    spend = sum((p.amount for p in purchases), start=0)
    if as_json:
        print_json(
            {
                "customer": customer.model_dump(mode="json", exclude={"id"}),
                "lifecycle": [e.model_dump(mode="json") for e in events],
                "complaints": [c.model_dump(mode="json") for c in complaints],
                "recent_calls": [c.model_dump(mode="json") for c in calls],
                "lifetime_spend": str(spend),
                "points": points,
            }
        )
        return
    console.print(
        f"[bold]{customer.name}[/bold]  {customer.ref}  ({customer.state or 'never acquired'})"
    )
    console.print(f"e-mail {customer.email or '—'}   phone {customer.phone or '—'}")
    console.print(f"lifetime spend {spend:.2f} in {len(purchases)} purchases   points {points}")
    table = Table("when", "event", "reason", "detail", title="Lifecycle")
    for event in events:
        table.add_row(
            format_instant(event.at, tz), event.kind.value, event.reason or "", event.detail or ""
        )
    console.print(table)
    table = Table(
        "ref", "received", "category", "priority", "status", "summary", title="Complaints"
    )
    for c in complaints:
        table.add_row(
            c.ref,
            format_instant(c.received_at, tz),
            c.category,
            c.priority.value,
            c.status.value,
            c.summary,
        )
    console.print(table)
    table = Table("ref", "started", "agent", "channel", "notes", title="Recent calls")
    for call in calls:
        table.add_row(
            call.ref,
            format_instant(call.started_at, tz),
            call.agent,
            call.channel.value,
            call.notes,
        )
    console.print(table)


@app.command("list")
def list_(
    ctx: typer.Context,
    search: Annotated[
        str | None, typer.Option(help="Part of a name, ref, e-mail or phone.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List customers by ref."""
    with get(ctx).reading() as session:
        found = store.list_customers(session=session, search=search, limit=limit)
    if as_json:
        print_json([c.model_dump(mode="json", exclude={"id"}) for c in found])
        return
    table = Table("ref", "name", "e-mail", "phone", "state")
    for c in found:
        table.add_row(c.ref, c.name, c.email or "", c.phone or "", c.state or "")
    console.print(table)


def _lifecycle(
    ctx: typer.Context,
    ref: str,
    kind: LifecycleKind,
    at: str | None,
    reason: str | None,
    detail: str | None,
) -> None:
    desk = get(ctx)
    when = desk.instant(at, "--at") or desk.now()
    with desk.writing() as session:
        actor = desk.acting(session)
        store.add_lifecycle_events(
            [LifecycleCreate(customer_ref=ref, at=when, kind=kind, reason=reason, detail=detail)],
            session=session,
            actor=actor,
            now=desk.now(),
        )
    console.print(f"Recorded {kind.value} for {ref} at {format_instant(when, desk.settings.tz)}")


@app.command("leave")
def leave(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="The customer's ref.")],
    reason: Annotated[
        str,
        typer.Option(
            help="Leave-reason: competitor, service, product, price, no_need, moved, other."
        ),
    ],
    detail: Annotated[str | None, typer.Option(help="Free text: what they said.")] = None,
    at: AtOption = None,
) -> None:
    """Record that a customer left, and why."""
    _lifecycle(ctx, ref, LifecycleKind.left, at, reason, detail)


@app.command("win-back")
def win_back(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="The customer's ref.")],
    detail: Annotated[str | None, typer.Option(help="Free text: what brought them back.")] = None,
    at: AtOption = None,
) -> None:
    """Record that a customer who left has been won back."""
    _lifecycle(ctx, ref, LifecycleKind.won_back, at, None, detail)


# --- duplicates and merging ------------------------------------------------------------------

_MOVED_LABELS = {
    "calls": ("call", "calls"),
    "complaints": ("complaint", "complaints"),
    "purchases": ("purchase", "purchases"),
    "lifecycle_events": ("lifecycle event", "lifecycle events"),
    "points_ledger": ("loyalty ledger line", "loyalty ledger lines"),
}


@app.command("duplicates")
def duplicates(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, help="At most this many pairs.")] = 100,
    country_code: Annotated[
        str,
        typer.Option("--country-code", help="Country code of phone numbers written without one."),
    ] = "49",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List likely duplicate customers (same e-mail, same phone number, similar name)."""
    from desk.store.merge import find_duplicates

    with get(ctx).reading() as session:
        pairs = find_duplicates(session=session, limit=limit, country_code=country_code)
    if as_json:
        print_json([pair.model_dump(mode="json") for pair in pairs])
        return
    if not pairs:
        console.print("No likely duplicates found.")
        return
    table = Table()
    table.add_column("score", justify="right", no_wrap=True)
    table.add_column("why")
    table.add_column("ref", no_wrap=True)
    table.add_column("name")
    table.add_column("e-mail", overflow="fold")
    table.add_column("phone", no_wrap=True)
    for pair in pairs:
        for index, side in enumerate((pair.first, pair.second)):
            table.add_row(
                f"{pair.score:g}" if index == 0 else "",
                ", ".join(pair.reasons) if index == 0 else "",
                side.ref,
                side.name,
                side.email or "",
                side.phone or "",
                end_section=index == 1,
            )
    console.print(table)
    console.print(
        f"{len(pairs)} pairs, strongest first; the older record is listed first. "
        "Merge one with `desk customer merge KEEP OTHER`."
    )


@app.command("merge")
def merge(
    ctx: typer.Context,
    keep: Annotated[str, typer.Argument(help="The customer to keep.")],
    other: Annotated[str, typer.Argument(help="The customer merged into KEEP, then removed.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Merge customer OTHER into KEEP: move all their records to KEEP, then remove OTHER."""
    from desk.store.merge import merge_customers, plan_merge

    desk = get(ctx)
    with desk.reading() as session:
        desk.supervising(session)  # refused before anything is shown
        plan = plan_merge(keep, other, session=session)
    moving = [
        f"{count} {_MOVED_LABELS.get(table, (table, table))[count != 1]}"
        for table, count in plan.moves.items()
        if count
    ]
    console.print(
        f"Merge {plan.other.ref} {plan.other.name} into {plan.keep.ref} {plan.keep.name}:",
        markup=False,
    )
    console.print(f"  moves {', '.join(moving) if moving else 'no records'}", markup=False)
    for field, value in plan.fills.items():
        console.print(f"  {plan.keep.ref} takes {plan.other.ref}'s {field} {value}", markup=False)
    for field, value in plan.drops.items():
        console.print(
            f"  {plan.other.ref}'s {field} {value} is not kept ({plan.keep.ref} has its own; "
            "the audit log keeps it)",
            markup=False,
        )
    console.print(f"  then removes {plan.other.ref}", markup=False)
    if not yes and not typer.confirm("Merge?", default=False):
        console.print("Not merged; nothing was changed.")
        raise typer.Exit(1)
    with desk.writing() as session:
        actor = desk.acting(session)
        result = merge_customers(keep, other, session=session, actor=actor, now=desk.now())
    moved = sum(result.moved.values())
    console.print(f"Merged {result.merged} into {result.keep.ref}: {moved} records moved.")


# --- privacy ---------------------------------------------------------------------------------

_CLEARED_LABELS = {
    "calls.notes": ("the notes of {n} call", "the notes of {n} calls"),
    "complaints.summary": ("the summary of {n} complaint", "the summaries of {n} complaints"),
    "complaints.detail": ("the details of {n} complaint", "the details of {n} complaints"),
    "complaint_notes.text": ("{n} complaint note", "{n} complaint notes"),
    "lifecycle_events.detail": (
        "the details of {n} lifecycle event",
        "the details of {n} lifecycle events",
    ),
    "points_ledger.reason": (
        "the reason of {n} loyalty ledger line",
        "the reasons of {n} loyalty ledger lines",
    ),
}
_FIELD_LABELS = {"ref": "ref", "name": "name", "email": "e-mail", "phone": "phone"}


@app.command("erase")
def erase(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="The customer's ref.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Erase a customer's personal data (supervisors only); their records stay, anonymous, so
    every figure stays the same."""
    from desk.store.erase import ERASED_NAME, erase_customer, plan_erase

    desk = get(ctx)
    with desk.reading() as session:
        plan = plan_erase(ref, session=session, actor=desk.actor)  # refused before asking
    if not plan.already_erased:
        console.print(
            f"Erase {plan.ref} {plan.name}: their name, e-mail, phone and ref, and the free text "
            "of their calls, complaints, complaint notes, lifecycle events and loyalty ledger. "
            "Their records stay, anonymous, so every figure stays the same. This cannot be "
            "undone.",
            markup=False,
        )
        if not yes and not typer.confirm("Erase?", default=False):
            console.print("Not erased; nothing was changed.")
            raise typer.Exit(1)
    with desk.writing() as session:
        result = erase_customer(ref, session=session, actor=desk.actor, now=desk.now())
    cleared = [
        _CLEARED_LABELS.get(column, (f"{{n}} {column}",) * 2)[count != 1].format(n=count)
        for column, count in result.cleared.items()
        if count
    ]
    if result.already_erased:
        done = f"cleared what was added since: {', '.join(cleared)}" if cleared else "nothing to do"
        console.print(f"{result.ref} was already erased; {done}.", markup=False)
        return
    fields = ", ".join(_FIELD_LABELS.get(field, field) for field in result.fields)
    console.print(f"Erased {ref}: it is now {result.ref} {ERASED_NAME!r}.", markup=False)
    console.print(f"  erased its {fields}", markup=False)
    console.print(
        f"  cleared {', '.join(cleared) if cleared else 'no free text (there was none)'}",
        markup=False,
    )
    console.print(
        f"  kept {sum(result.kept.values())} anonymous records, so every figure stays the same",
        markup=False,
    )
