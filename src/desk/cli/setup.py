"""``desk category`` and ``desk sla``: what supervisors set up (agents only read it)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from desk.cli.context import get, print_json
from desk.errors import InvalidInput
from desk.models import Priority
from desk.store import setup as store
from desk.timefmt import format_duration, parse_duration

categories = typer.Typer(
    help="The leave-reasons complaints and departures are filed under (supervisors change them).",
    no_args_is_help=True,
)
sla = typer.Typer(
    help="Response-time targets per priority (supervisors change them).", no_args_is_help=True
)
console = Console(highlight=False, soft_wrap=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@categories.command("list")
def list_categories(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List the categories, retired ones included."""
    with get(ctx).reading() as session:
        rows: list[dict[str, Any]] = [
            {"key": c.key, "label": c.label, "active": c.active}
            for c in store.list_categories(session=session)
        ]
    if as_json:
        print_json(rows)
        return
    table = Table("key", "label", "state")
    for row in rows:
        table.add_row(row["key"], row["label"], "active" if row["active"] else "retired")
    console.print(table)


@categories.command("add")
def add_category(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="Short key, e.g. billing_error.")],
    label: Annotated[str, typer.Argument(help="What the reason means.")],
) -> None:
    """Add a leave-reason (supervisors only)."""
    desk = get(ctx)
    with desk.writing() as session:
        added = store.add_category(key, label, session=session, actor=_actor(ctx), now=desk.now())
        console.print(f"Added category {added.key}: {added.label}", markup=False)


@categories.command("relabel")
def relabel_category(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="The category's key.")],
    label: Annotated[str, typer.Argument(help="Its new label.")],
) -> None:
    """Change what a category is called (supervisors only)."""
    desk = get(ctx)
    with desk.writing() as session:
        store.change_category(key, session=session, actor=_actor(ctx), now=desk.now(), label=label)
    console.print(f"Category {key} is now: {label.strip()}", markup=False)


@categories.command("retire")
def retire_category(
    ctx: typer.Context, key: Annotated[str, typer.Argument(help="The category's key.")]
) -> None:
    """Stop offering a category for new complaints; what was filed under it stays
    (supervisors only)."""
    desk = get(ctx)
    with desk.writing() as session:
        store.change_category(key, session=session, actor=_actor(ctx), now=desk.now(), active=False)
    console.print(f"Retired category {key}", markup=False)


@categories.command("activate")
def activate_category(
    ctx: typer.Context, key: Annotated[str, typer.Argument(help="The category's key.")]
) -> None:
    """Offer a retired category again (supervisors only)."""
    desk = get(ctx)
    with desk.writing() as session:
        store.change_category(key, session=session, actor=_actor(ctx), now=desk.now(), active=True)
    console.print(f"Category {key} is active again", markup=False)


@sla.command("list")
def list_sla(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List the response-time targets."""
    with get(ctx).reading() as session:
        rows: list[dict[str, Any]] = [
            {
                "priority": t.priority,
                "first_response_s": t.first_response_s,
                "resolution_s": t.resolution_s,
            }
            for t in store.list_sla(session=session)
        ]
    if as_json:
        print_json(rows)
        return
    table = Table("priority", "first response", "resolution")
    for row in rows:
        table.add_row(
            str(row["priority"]),
            format_duration(int(row["first_response_s"])),
            format_duration(int(row["resolution_s"])),
        )
    console.print(table)


@sla.command("set")
def set_sla(
    ctx: typer.Context,
    priority: Annotated[Priority, typer.Argument(help="urgent, high, normal or low.")],
    first_response: Annotated[
        str | None, typer.Option("--first-response", help="e.g. 30m, 4h, 1d.")
    ] = None,
    resolution: Annotated[str | None, typer.Option("--resolution", help="e.g. 8h, 2d.")] = None,
) -> None:
    """Change the targets of one priority (supervisors only)."""
    if first_response is None and resolution is None:
        raise InvalidInput("give --first-response, --resolution or both")
    desk = get(ctx)
    first = _seconds(first_response, "--first-response")
    until = _seconds(resolution, "--resolution")
    with desk.writing() as session:
        target = store.set_sla(
            priority,
            session=session,
            actor=_actor(ctx),
            now=desk.now(),
            first_response_s=first,
            resolution_s=until,
        )
        console.print(
            f"{priority.value}: first response within {format_duration(target.first_response_s)}"
            f", resolved within {format_duration(target.resolution_s)}",
            markup=False,
        )


def _seconds(text: str | None, option: str) -> int | None:
    if text is None:
        return None
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise InvalidInput(f"{option}: {exc}") from exc


def _actor(ctx: typer.Context) -> str:
    """The name of whoever acts (blank when nobody is named: the store says what to do)."""
    return get(ctx).actor or ""
