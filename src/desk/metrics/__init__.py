"""desk's numbers (SPEC.md): retention, reasons, response times, revenue, loyalty, cohorts.

Pure core: every function takes a keyword-only ``session`` and returns frozen dataclasses with
a ``to_json()``; nothing here imports a user interface.
"""

from desk.metrics.cohorts import CohortRow, CohortTable, cohorts
from desk.metrics.loyalty import Balance, balance, balances
from desk.metrics.periods import (
    UNITS,
    Period,
    Unit,
    custom_period,
    period_containing,
    periods_between,
)
from desk.metrics.reasons import ReasonsReport, reasons
from desk.metrics.response import (
    ALL,
    UNASSIGNED,
    Behind,
    GroupBy,
    ResponseGroup,
    ResponseReport,
    complaints_behind,
    open_count,
    response_times,
    team_and_agent,
)
from desk.metrics.retention import RetentionReport, RetentionRow, retention
from desk.metrics.revenue import BuyerGroup, MonthRevenue, RevenueReport, revenue

__all__ = [
    "ALL",
    "UNASSIGNED",
    "UNITS",
    "Balance",
    "Behind",
    "BuyerGroup",
    "CohortRow",
    "CohortTable",
    "GroupBy",
    "MonthRevenue",
    "Period",
    "ReasonsReport",
    "ResponseGroup",
    "ResponseReport",
    "RetentionReport",
    "RetentionRow",
    "RevenueReport",
    "Unit",
    "balance",
    "balances",
    "cohorts",
    "complaints_behind",
    "custom_period",
    "open_count",
    "period_containing",
    "periods_between",
    "reasons",
    "response_times",
    "retention",
    "revenue",
    "team_and_agent",
]
