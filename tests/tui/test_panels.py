"""The side panels: the right numbers, "—" when undefined, folding by keys, narrow and themed."""

from __future__ import annotations

from datetime import UTC, date, datetime

from textual.app import App, ComposeResult
from textual.containers import Horizontal
from textual.geometry import Region
from textual.widget import Widget
from textual.widgets import Input

from desk.dashboard import (
    Dashboard,
    FirstResponse,
    ReasonRow,
    ReasonsPanelData,
    ResponsePanelData,
    ResponseWindow,
    RetentionPanelData,
    RevenuePanelData,
)
from desk.metrics import BuyerGroup, Period, RetentionRow
from desk.tui.widgets.panels import (
    DeskPanel,
    PanelsColumn,
    ReasonsPanel,
    ResponsePanel,
    RetentionPanel,
    RevenuePanel,
    bar,
    spark_line,
)

AS_OF = datetime(2025, 11, 20, 15, 0, tzinfo=UTC)
NOVEMBER = Period(datetime(2025, 11, 1, tzinfo=UTC), datetime(2025, 12, 1, tzinfo=UTC))
OCTOBER = Period(datetime(2025, 10, 1, tzinfo=UTC), datetime(2025, 11, 1, tzinfo=UTC))
TODAY = Period(datetime(2025, 11, 20, tzinfo=UTC), datetime(2025, 11, 21, tzinfo=UTC))
WEEK = Period(datetime(2025, 11, 17, tzinfo=UTC), datetime(2025, 11, 24, tzinfo=UTC))
MONTHS = tuple(date(2024 + (11 + k) // 12, (11 + k) % 12 + 1, 1) for k in range(12))


def retention_row(period: Period, cs: int, ce: int, cn: int, lost: int) -> RetentionRow:
    return RetentionRow(
        start=period.start,
        end=period.end,
        cs=cs,
        ce=ce,
        cn=cn,
        lost=lost,
        retention_rate=None if cs == 0 else (ce - cn) * 100 / cs,
        churn_rate=None if cs == 0 else lost * 100 / cs,
    )


def board(scale: int = 1) -> Dashboard:
    """A lively month; ``scale`` multiplies counts and money to try wide numbers."""
    categories = ("competitor", "service", "product", "price", "no_need", "moved", "other")
    losses = (85, 54, 43, 45, 19, 17, 0)
    complaints = (113, 247, 221, 162, 57, 43, 77)
    return Dashboard(
        as_of=AS_OF,
        retention=RetentionPanelData(
            this_month=retention_row(NOVEMBER, 14_013 * scale, 14_341 * scale, 601 * scale, 273),
            last_month=retention_row(OCTOBER, 13_498 * scale, 14_013 * scale, 957 * scale, 442),
            trend=(None, None, 97.1, 97.2, 96.9, 97.0, 96.9, 97.1, 97.0, 96.8, 96.7, 98.1),
            months=MONTHS,
        ),
        reasons=ReasonsPanelData(
            period=NOVEMBER,
            month=date(2025, 11, 1),
            rows=tuple(
                ReasonRow(key=key, label=key.title(), losses=lost * scale, complaints=n * scale)
                for key, lost, n in zip(categories, losses, complaints, strict=True)
            ),
        ),
        response=ResponsePanelData(
            agent_name="Clara Schneider",
            as_of=AS_OF,
            today=ResponseWindow(
                period=TODAY,
                own=FirstResponse(count=4, p50_s=1_860, p90_s=1_901),
                team=FirstResponse(count=42 * scale, p50_s=4_503, p90_s=9_599),
                first_response_breached=1,
                resolution_breached=0,
            ),
            week=ResponseWindow(
                period=WEEK,
                own=FirstResponse(count=15, p50_s=6_577, p90_s=190_000),
                team=FirstResponse(count=214 * scale, p50_s=8_155, p90_s=23_365),
                first_response_breached=48 * scale,
                resolution_breached=12,
            ),
            open_load=9,
        ),
        revenue=RevenuePanelData(
            period=NOVEMBER,
            month=date(2025, 11, 1),
            dormancy_days=90,
            new=BuyerGroup(buyers=562 * scale, revenue_cents=3_307_771 * scale),
            returning=BuyerGroup(buyers=5_278 * scale, revenue_cents=28_693_105 * scale),
            revived=BuyerGroup(buyers=462 * scale, revenue_cents=2_601_788 * scale),
            total_cents=34_602_664 * scale,
        ),
    )


def empty_board() -> Dashboard:
    """A desk with no customers, no complaints and no buyers yet."""
    nobody = FirstResponse(count=0, p50_s=None, p90_s=None)
    none = BuyerGroup(buyers=0, revenue_cents=0)
    return Dashboard(
        as_of=AS_OF,
        retention=RetentionPanelData(
            this_month=retention_row(NOVEMBER, 0, 0, 0, 0),
            last_month=retention_row(OCTOBER, 0, 0, 0, 0),
            trend=(None,) * 12,
            months=MONTHS,
        ),
        reasons=ReasonsPanelData(
            period=NOVEMBER,
            month=date(2025, 11, 1),
            rows=(ReasonRow(key="service", label="Service", losses=0, complaints=0),),
        ),
        response=ResponsePanelData(
            agent_name="Clara Schneider",
            as_of=AS_OF,
            today=ResponseWindow(TODAY, nobody, nobody, 0, 0),
            week=ResponseWindow(WEEK, nobody, nobody, 0, 0),
            open_load=0,
        ),
        revenue=RevenuePanelData(
            period=NOVEMBER,
            month=date(2025, 11, 1),
            dormancy_days=90,
            new=none,
            returning=none,
            revived=none,
            total_cents=0,
        ),
    )


class PanelsApp(App[None]):
    """An input where the agent types, and the panels column beside it."""

    CSS = """
    Input { width: 1fr; }
    PanelsColumn { width: 40; }
    """

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Input(id="notes")
            yield PanelsColumn(id="panels")


def lines(widget: Widget) -> list[str]:
    """The widget as drawn, border and title included, one string per line."""
    width, height = widget.outer_size
    return [strip.text for strip in widget.render_lines(Region(0, 0, width, height))]


def shown(widget: Widget) -> str:
    """What the panel shows inside its border, title line included."""
    return "\n".join(line.strip("│┃") for line in lines(widget))


async def test_the_panels_show_the_dashboards_numbers() -> None:
    app = PanelsApp()
    async with app.run_test(size=(120, 60)) as pilot:
        app.query_one(PanelsColumn).show(board())
        await pilot.pause()
        retention = shown(app.query_one(RetentionPanel))
        assert "▾ Retention" in retention
        for text in ("Nov 2025", "Oct 2025", "98.1%", "96.7%", "1.9%", "3.3%"):
            assert text in retention
        for text in ("14,013", "14,341", "601", "273", "13,498", "957", "442"):
            assert text in retention
        assert "··▃" in retention  # the two months without customers are gaps
        assert "96.7–98.1%" in retention

        reasons = shown(app.query_one(ReasonsPanel))
        assert "Why customers leave · Nov 2025" in reasons
        competitor = next(line for line in reasons.splitlines() if "competitor" in line)
        assert competitor.split()[-2:] == ["85", "113"]
        assert "█" in competitor
        other = next(line for line in reasons.splitlines() if "other" in line)
        assert other.split()[-3:] == ["other", "0", "77"]  # no losses: no bar, but numbers
        total = next(line for line in reasons.splitlines() if "total" in line)
        assert total.split()[-2:] == ["263", "920"]

        response = shown(app.query_one(ResponsePanel))
        today_you = next(line for line in response.splitlines() if "today you" in line)
        assert today_you.split()[-3:] == ["31m", "31m", "4"]
        assert "1h 15m 2h 39m" in response
        assert "2d 04h" in response  # this week's p90 of 190,000 s
        breached_today = next(line for line in response.splitlines() if "today team" in line)
        assert breached_today.split()[-2:] == ["1", "0"]
        breached_week = next(line for line in response.splitlines() if "week  team" in line)
        assert breached_week.split()[-2:] == ["48", "12"]
        load = next(line for line in response.splitlines() if "your open complaints" in line)
        assert load.split()[-1] == "9"

        revenue = shown(app.query_one(RevenuePanel))
        assert "Revenue · Nov 2025" in revenue
        returning = next(line for line in revenue.splitlines() if "returning" in line)
        assert returning.split()[-3:] == ["5,278", "54.36", "286,931.05"]
        total_line = next(line for line in revenue.splitlines() if "total" in line)
        assert total_line.split()[-2:] == ["6,302", "346,026.64"]


async def test_undefined_figures_show_a_dash_and_nothing_breaks() -> None:
    app = PanelsApp()
    async with app.run_test(size=(120, 60)) as pilot:
        column = app.query_one(PanelsColumn)
        assert "waiting for figures" in shown(app.query_one(RetentionPanel))
        column.show(empty_board())
        await pilot.pause()
        retention = shown(app.query_one(RetentionPanel))
        retained = next(line for line in retention.splitlines() if "retained" in line)
        assert retained.split()[-2:] == ["—", "—"]
        churn = next(line for line in retention.splitlines() if "churn" in line)
        assert churn.split()[-2:] == ["—", "—"]
        assert "············ —" in retention
        response = shown(app.query_one(ResponsePanel))
        today_you = next(line for line in response.splitlines() if "today you" in line)
        assert today_you.split()[-3:] == ["—", "—", "0"]
        revenue = shown(app.query_one(RevenuePanel))
        new = next(line for line in revenue.splitlines() if " new " in line)
        assert new.split()[-3:] == ["0", "—", "0.00"]
        reasons = shown(app.query_one(ReasonsPanel))
        assert next(line for line in reasons.splitlines() if "service" in line).split()[-2:] == [
            "0",
            "0",
        ]


async def test_a_focused_panel_folds_and_unfolds_with_enter_and_space() -> None:
    app = PanelsApp()
    async with app.run_test(size=(120, 60)) as pilot:
        app.query_one(PanelsColumn).show(board())
        await pilot.pause()
        assert app.query_one(Input).has_focus
        await pilot.press("tab")
        retention = app.query_one(RetentionPanel)
        assert app.focused is retention
        tall = retention.outer_size.height
        await pilot.press("enter")
        await pilot.pause()
        assert retention.collapsed
        assert retention.outer_size.height == 1
        assert lines(retention)[0].startswith("┏━ ▸ Retention · 98.1% kept")
        await pilot.press("space")
        await pilot.pause()
        assert not retention.collapsed
        assert retention.outer_size.height == tall
        # The next panel folds on its own; its title line keeps its key figure.
        await pilot.press("tab", "enter")
        await pilot.pause()
        reasons = app.query_one(ReasonsPanel)
        assert reasons.collapsed and not retention.collapsed
        assert "▸ Why customers leave · 263 lost" in lines(reasons)[0]
        await pilot.press("tab", "space", "tab", "space")
        await pilot.pause()
        assert app.query_one(ResponsePanel).collapsed
        assert app.query_one(RevenuePanel).collapsed
        assert "▸ Revenue · 346,026.64" in lines(app.query_one(RevenuePanel))[0]
        assert "▸ Response times · you p50 31m" in lines(app.query_one(ResponsePanel))[0]


async def test_typing_elsewhere_never_folds_a_panel() -> None:
    app = PanelsApp()
    async with app.run_test(size=(120, 60)) as pilot:
        app.query_one(PanelsColumn).show(board())
        await pilot.pause()
        await pilot.press("h", "i", "space", "t", "h", "e", "r", "e", "enter")
        await pilot.pause()
        assert app.query_one(Input).value == "hi there"
        assert not any(panel.collapsed for panel in app.query(DeskPanel))


async def test_a_panel_can_start_folded_and_data_arrives_while_folded() -> None:
    class Folded(App[None]):
        def compose(self) -> ComposeResult:
            yield PanelsColumn(collapsed=True)

    app = Folded()
    async with app.run_test(size=(80, 24)) as pilot:
        panels = list(app.query(DeskPanel))
        assert all(panel.collapsed for panel in panels)
        assert [lines(panel)[0].split()[1] for panel in panels] == [
            "▸",
            "▸",
            "▸",
            "▸",
        ]
        app.query_one(PanelsColumn).show(board())
        await pilot.pause()
        assert "98.1% kept" in lines(app.query_one(RetentionPanel))[0]
        assert all(panel.outer_size.height == 1 for panel in panels)


async def test_at_forty_columns_wide_numbers_are_not_cut_off() -> None:
    app = PanelsApp()
    async with app.run_test(size=(80, 24)) as pilot:
        column = app.query_one(PanelsColumn)
        column.show(board(scale=10))
        await pilot.pause()
        assert column.outer_size.width == 40
        for panel in app.query(DeskPanel):
            drawn = lines(panel)
            assert all("…" not in line for line in drawn), drawn
            assert all(len(line) <= 40 for line in drawn)
        retention = shown(app.query_one(RetentionPanel))
        assert "140,130" in retention and "143,410" in retention
        revenue = shown(app.query_one(RevenuePanel))
        assert "3,460,266.40" in revenue and "286,931.05" not in revenue
        assert "2,869,310.50" in revenue
        reasons = shown(app.query_one(ReasonsPanel))
        assert "2,470" in reasons and "complaints" in reasons
        response = shown(app.query_one(ResponsePanel))
        assert "2,140" in response and "480" in response


async def test_at_80x24_the_column_scrolls_to_the_focused_panel() -> None:
    app = PanelsApp()
    async with app.run_test(size=(80, 24)) as pilot:
        app.query_one(PanelsColumn).show(board())
        await pilot.pause()
        revenue = app.query_one(RevenuePanel)
        assert revenue.region.y >= 24 or revenue.region.height == 0
        await pilot.press("tab", "tab", "tab", "tab")
        await pilot.pause()
        assert app.focused is revenue
        assert revenue.region.y >= 0 and revenue.region.bottom <= 24


async def test_light_and_dark_themes_render_the_same_figures() -> None:
    app = PanelsApp()
    async with app.run_test(size=(120, 60)) as pilot:
        app.query_one(PanelsColumn).show(board())
        await pilot.press("tab")
        await pilot.pause()
        retention = app.query_one(RetentionPanel)
        app.theme = "textual-dark"
        await pilot.pause()
        dark = shown(retention)
        dark_figure = retention.get_component_rich_style("panel--figure", partial=True)
        app.theme = "textual-light"
        await pilot.pause()
        light = shown(retention)
        light_figure = retention.get_component_rich_style("panel--figure", partial=True)
        assert light == dark
        assert light_figure.bold and dark_figure.bold
        assert light_figure.color != dark_figure.color
        for panel in app.query(DeskPanel):
            assert lines(panel)


def test_spark_line_and_bar_scale_and_leave_gaps() -> None:
    assert spark_line((None, 1.0, 2.0, None, 3.0)) == "·▁▅·█"
    assert spark_line((5.0, 5.0)) == "▄▄"
    assert spark_line((None, None)) == "··"
    assert bar(8, 8, 5) == "█████"
    assert bar(1, 8, 4) == "▌"
    assert bar(0, 8, 4) == ""
    assert bar(1, 1000, 4) == "▏"  # something lost is never drawn as nothing
