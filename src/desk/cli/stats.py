"""``desk stats``: the numbers supervisors act on, exactly as SPEC.md defines them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from desk import metrics
from desk.cli.context import DeskContext, err_console, get, print_csv, print_json
from desk.errors import InvalidInput
from desk.timefmt import format_duration, format_instant, parse_date

app = typer.Typer(
    help="Retention, leave-reasons, response times, revenue and cohorts.", no_args_is_help=True
)
console = Console(highlight=False, soft_wrap=True)


class PeriodUnit(StrEnum):
    """Length of each reported period."""

    month = "month"
    week = "week"
    quarter = "quarter"


class By(StrEnum):
    """How response times are grouped."""

    agent = "agent"
    channel = "channel"
    category = "category"
    priority = "priority"


FromOption = Annotated[
    str | None, typer.Option("--from", help="First day, YYYY-MM-DD (inclusive).")
]
ToOption = Annotated[
    str | None, typer.Option("--to", help="Last boundary, YYYY-MM-DD (exclusive).")
]
AsOfOption = Annotated[
    str | None,
    typer.Option(
        "--as-of", help="Compute as of this instant (default now; a demo desk: its story's end)."
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
CsvOption = Annotated[bool, typer.Option("--csv", help="Print CSV.")]


def _date(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    try:
        return parse_date(text)
    except ValueError as exc:
        raise InvalidInput(f"{option}: {exc}") from exc


def _window(
    desk: DeskContext, start: str | None, end: str | None, as_of: datetime, months_back: int
) -> tuple[date, date]:
    """[from, to) as dates: given, or the ``months_back`` months up to and including as-of's."""
    tz = desk.settings.tz
    to_day = _date(end, "--to") or (as_of.astimezone(tz).date() + timedelta(days=1))
    if start is not None:
        from_day = _date(start, "--from")
        assert from_day is not None
    else:
        local = as_of.astimezone(tz).date().replace(day=1)
        month_index = local.year * 12 + local.month - 1 - (months_back - 1)
        from_day = date(month_index // 12, month_index % 12 + 1, 1)
    if to_day <= from_day:
        raise InvalidInput(f"--to ({to_day}) must be after --from ({from_day})")
    return from_day, to_day


@dataclass(frozen=True)
class _Request:
    """What every stats command settles first: the desk, the output, the instant and the window."""

    desk: DeskContext
    kind: str
    tz: tzinfo
    when: datetime
    first: date
    last: date


def _request(
    ctx: typer.Context,
    start: str | None,
    end: str | None,
    as_of: str | None,
    as_json: bool,
    as_csv: bool,
    months_back: int,
) -> _Request:
    desk = get(ctx)
    kind = _output(as_json, as_csv)
    when = _as_of(desk, as_of)
    first, last = _window(desk, start, end, when, months_back)
    return _Request(desk, kind, desk.settings.tz, when, first, last)


def _as_of(desk: DeskContext, text: str | None) -> datetime:
    as_of, demo = desk.as_of(text)
    if demo:
        err_console.print(
            f"(demo desk: figures as of its story's end, {format_instant(as_of, desk.settings.tz)})"
        )
    return as_of


def _output(as_json: bool, as_csv: bool) -> str:
    if as_json and as_csv:
        raise typer.BadParameter("choose one of --json and --csv")
    return "json" if as_json else "csv" if as_csv else "table"


def _table(title: str, *headers: str) -> Table:
    """A compact table whose first column (a name or a month) never wraps."""
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1, 0, 0))
    for index, header in enumerate(headers):
        if index == 0:
            table.add_column(header, ratio=1, overflow="fold")
        else:
            table.add_column(header, no_wrap=True, justify="right", min_width=len(header))
    return table


def _duration(seconds: int | None) -> str:
    return format_duration(seconds).replace(" ", "")


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}%"


def _money(value: Decimal | None) -> str:
    return "—" if value is None else f"{value:,.2f}"


@app.command("retention")
def retention(
    ctx: typer.Context,
    start: FromOption = None,
    end: ToOption = None,
    period: Annotated[PeriodUnit, typer.Option(help="Length of each period.")] = PeriodUnit.month,
    as_of: AsOfOption = None,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Customer retention per period: CS, CE, CN, lost, retention rate and churn rate."""
    req = _request(ctx, start, end, as_of, as_json, as_csv, 12)
    desk, kind, tz, first, last = req.desk, req.kind, req.tz, req.first, req.last
    periods = metrics.periods_between(first, last, period.value, tz)
    with desk.reading() as session:
        report = metrics.retention(periods, session=session)
    data = report.to_json(tz)
    if kind == "json":
        print_json(data)
        return
    header = ["start", "end", "cs", "ce", "cn", "lost", "retention_rate", "churn_rate"]
    rows = [[row[k] for k in header] for row in data["periods"]]
    if kind == "csv":
        print_csv(header, rows)
        return
    table = _table("Customer retention", "period", "CS", "CE", "CN", "lost", "retention", "churn")
    for row in data["periods"]:
        table.add_row(
            row["start"][:7] if period is PeriodUnit.month else f"{row['start']} – {row['end']}",
            str(row["cs"]),
            str(row["ce"]),
            str(row["cn"]),
            str(row["lost"]),
            _pct(row["retention_rate"]),
            _pct(row["churn_rate"]),
        )
    console.print(table)
    console.print("retention = (CE − CN) / CS × 100; churn = lost / CS × 100; — when CS = 0")


@app.command("reasons")
def reasons(
    ctx: typer.Context,
    start: FromOption = None,
    end: ToOption = None,
    as_of: AsOfOption = None,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Why customers leave: losses by leave-reason, with complaints by leave-reason beside them."""
    req = _request(ctx, start, end, as_of, as_json, as_csv, 1)
    desk, kind, tz, first, last = req.desk, req.kind, req.tz, req.first, req.last
    with desk.reading() as session:
        report = metrics.reasons(metrics.custom_period(first, last, tz), session=session)
    data = report.to_json(tz)
    if kind == "json":
        print_json(data)
        return
    keys = list(data["losses"])
    if kind == "csv":
        print_csv(
            ["reason", "losses", "loss_share", "complaints", "complaint_share"],
            [
                [
                    k,
                    data["losses"][k],
                    data["loss_shares"][k],
                    data["complaints"][k],
                    data["complaint_shares"][k],
                ]
                for k in keys
            ],
        )
        return
    table = _table(
        f"Why customers leave, {first} – {last}",
        "leave-reason",
        "losses",
        "share",
        "complaints",
        "share",
    )
    for k in keys:
        table.add_row(
            k,
            str(data["losses"][k]),
            _pct(data["loss_shares"][k]),
            str(data["complaints"][k]),
            _pct(data["complaint_shares"][k]),
        )
    table.add_row(
        "total", str(sum(data["losses"].values())), "", str(sum(data["complaints"].values())), ""
    )
    console.print(table)


@app.command("response")
def response(
    ctx: typer.Context,
    start: FromOption = None,
    end: ToOption = None,
    by: Annotated[
        By | None, typer.Option(help="Group by agent, channel, category or priority.")
    ] = None,
    as_of: AsOfOption = None,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Response times of complaints received in the period: p50/p90 and SLA breaches."""
    req = _request(ctx, start, end, as_of, as_json, as_csv, 1)
    desk, kind, tz, when, first, last = req.desk, req.kind, req.tz, req.when, req.first, req.last
    with desk.reading() as session:
        report = metrics.response_times(
            metrics.custom_period(first, last, tz),
            session=session,
            as_of=when,
            by=by.value if by else None,
        )
    data = report.to_json()
    if kind == "json":
        print_json(data)
        return
    if kind == "csv":
        header = list(data["groups"][0]) if data["groups"] else ["key", "count"]
        print_csv(header, [[g.get(k) for k in header] for g in data["groups"]])
        return
    table = _table(
        f"Response times, complaints received {first} – {last}",
        by.value if by else "",
        "n",
        "p50 1st",
        "p90 1st",
        "p50 res",
        "p90 res",
        "late1",
        "lateR",
        "open",
        "inSLA",
    )
    for g in report.groups:
        table.add_row(
            g.key,
            str(g.count),
            _duration(g.first_response_p50_s),
            _duration(g.first_response_p90_s),
            _duration(g.resolution_p50_s),
            _duration(g.resolution_p90_s),
            str(g.first_response_breached),
            str(g.resolution_breached),
            str(g.open),
            _pct(g.first_response_within_sla_pct),
        )
    console.print(table)
    console.print(f"breaches as of {format_instant(when, tz)}; percentiles by nearest rank")


@app.command("revenue")
def revenue(
    ctx: typer.Context,
    start: FromOption = None,
    end: ToOption = None,
    as_of: AsOfOption = None,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """The revenue equation per month: new, returning and revived buyers × average spend."""
    req = _request(ctx, start, end, as_of, as_json, as_csv, 12)
    desk, kind, tz, first, last = req.desk, req.kind, req.tz, req.first, req.last
    months = metrics.periods_between(first, last, "month", tz)
    with desk.reading() as session:
        report = metrics.revenue(months, session=session, dormancy_days=desk.settings.dormancy_days)
    data = report.to_json(tz)
    if kind == "json":
        print_json(data)
        return
    groups = ("new", "returning", "revived")
    if kind == "csv":
        header = (
            ["month"]
            + [f"{g}_{f}" for g in groups for f in ("buyers", "revenue", "average")]
            + ["total"]
        )
        print_csv(
            header,
            [
                [m["month"]]
                + [m[g][f] for g in groups for f in ("buyers", "revenue", "average")]
                + [m["total"]]
                for m in data["months"]
            ],
        )
        return
    table = _table("Revenue equation", "month", "buyers", "× average", "= revenue")
    for m in report.months:
        month = m.start.astimezone(tz).strftime("%Y-%m")
        for g in groups:
            group = getattr(m, g)
            table.add_row(
                f"{month} {g}", str(group.buyers), _money(group.average), _money(group.revenue)
            )
        table.add_row(f"{month} total", "", "", _money(m.total), end_section=True)
    console.print(table)
    console.print(
        f"revenue = Σ buyers × average spend for new, returning and revived (previous purchase over "
        f"{desk.settings.dormancy_days} days before) buyers; it equals the plain sum of purchases"
    )


@app.command("cohorts")
def cohorts(
    ctx: typer.Context,
    start: FromOption = None,
    end: ToOption = None,
    as_of: AsOfOption = None,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Retention cohorts: by month acquired, the share still active N months later."""
    req = _request(ctx, start, end, as_of, as_json, as_csv, 12)
    desk, kind, tz, when, first, last = req.desk, req.kind, req.tz, req.when, req.first, req.last
    months = metrics.periods_between(first, last, "month", tz)
    with desk.reading() as session:
        table_data = metrics.cohorts(months, session=session, as_of=when)
    data: dict[str, Any] = table_data.to_json(tz)
    width = max((len(c["active_pct"]) for c in data["cohorts"]), default=0)
    if kind == "json":
        print_json(data)
        return
    if kind == "csv":
        print_csv(
            ["month", "size", *(f"m{k}" for k in range(width))],
            [[c["month"], c["size"], *c["active_pct"]] for c in data["cohorts"]],
        )
        return
    table = _table(
        "% still active, by month acquired",
        "acquired",
        "size",
        *(f"+{k}" for k in range(width)),
    )
    for c in data["cohorts"]:
        table.add_row(
            c["month"], str(c["size"]), *("" if v is None else f"{v:.0f}" for v in c["active_pct"])
        )
    console.print(table)
    console.print(
        "cell +k: share of the cohort active at the end of the k-th month after acquisition"
    )
