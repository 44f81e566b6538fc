"""``desk init`` and ``desk demo``: databases themselves."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from desk import db
from desk.cli.context import get
from desk.errors import InvalidInput

console = Console(highlight=False, soft_wrap=True)


def init(ctx: typer.Context) -> None:
    """Create the database, or bring an older one to the current schema keeping every row."""
    desk = get(ctx)
    engine = desk.engine(check_schema=False)
    result = db.migrate(engine)
    where = db.display_url(engine.url)
    if result.before == result.after:
        console.print(f"{where} is up to date (schema {result.after})")
    elif result.before is None:
        console.print(f"Initialised {where} (schema {result.after})")
    else:
        console.print(f"Upgraded {where} from schema {result.before} to {result.after}")


def demo(
    out: Annotated[Path, typer.Option("--out", help="The new database file to write.")],
    seed: Annotated[int, typer.Option(help="Same seed, same story.")] = 1,
    customers: Annotated[int, typer.Option(min=1, help="How many customers.")] = 1500,
    calls: Annotated[int, typer.Option(min=0, help="How many calls.")] = 15000,
    months: Annotated[int, typer.Option(min=1, help="How many months of history.")] = 24,
    end: Annotated[
        str | None, typer.Option(help="When the story ends (default now, to the hour).")
    ] = None,
    force: Annotated[bool, typer.Option(help="Replace the file if it exists.")] = False,
) -> None:
    """Write a realistic demo desk: agents, customers who come and go, calls, complaints, sales."""
    from datetime import UTC

    from desk.clock import system_now
    from desk.demo import build_demo
    from desk.timefmt import format_instant, parse_instant

    if out.exists():
        if not force:
            raise InvalidInput(f"{out} already exists; choose another --out or pass --force")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{out}{suffix}").unlink(missing_ok=True)
    if end is None:
        story_end = system_now().replace(minute=0, second=0)
    else:
        try:
            story_end = parse_instant(end, UTC)
        except ValueError as exc:
            raise InvalidInput(f"--end: {exc}") from exc
    engine = db.make_engine(db.database_url(str(out)))
    db.migrate(engine)
    summary = build_demo(
        engine, seed=seed, customers=customers, calls=calls, months=months, end=story_end
    )
    engine.dispose()
    console.print(
        f"Wrote {out}: {summary.customers} customers, {summary.calls} calls, "
        f"{summary.complaints} complaints, {summary.purchases} purchases; the story ends "
        f"{format_instant(summary.end)}"
    )


def register(app: typer.Typer) -> None:
    """Add these commands to the root app."""
    app.command("init")(init)
    app.command("demo")(demo)
