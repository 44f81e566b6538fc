"""desk's numbers (SPEC.md): retention, reasons, response times, revenue, loyalty, cohorts.

Pure core: every function takes a keyword-only ``session`` and returns frozen dataclasses with
a ``to_json()``; nothing here imports a user interface.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_HOMES = {
    "CohortRow": "desk.metrics.cohorts",
    "CohortTable": "desk.metrics.cohorts",
    "cohorts": "desk.metrics.cohorts",
    "Balance": "desk.metrics.loyalty",
    "balance": "desk.metrics.loyalty",
    "balances": "desk.metrics.loyalty",
    "UNITS": "desk.metrics.periods",
    "Period": "desk.metrics.periods",
    "Unit": "desk.metrics.periods",
    "custom_period": "desk.metrics.periods",
    "period_containing": "desk.metrics.periods",
    "periods_between": "desk.metrics.periods",
    "ReasonsReport": "desk.metrics.reasons",
    "reasons": "desk.metrics.reasons",
    "ALL": "desk.metrics.glance",
    "UNASSIGNED": "desk.metrics.glance",
    "Behind": "desk.metrics.response",
    "GroupBy": "desk.metrics.response",
    "ResponseGroup": "desk.metrics.glance",
    "ResponseReport": "desk.metrics.response",
    "complaints_behind": "desk.metrics.response",
    "open_count": "desk.metrics.glance",
    "response_times": "desk.metrics.response",
    "team_and_agent": "desk.metrics.glance",
    "RetentionReport": "desk.metrics.retention",
    "RetentionRow": "desk.metrics.retention",
    "retention": "desk.metrics.retention",
    "BuyerGroup": "desk.metrics.revenue",
    "MonthRevenue": "desk.metrics.revenue",
    "RevenueReport": "desk.metrics.revenue",
    "revenue": "desk.metrics.revenue",
}
"""Where each name lives: a module is loaded when one of its names is first used, so that
code needing only a value type (``desk.metrics.figures``) or the periods loads no queries."""


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


class _Package(types.ModuleType):
    """This package: loading a submodule names it on the package, but where a function bears
    its module's name (``retention``, ``reasons``, ``revenue``, ``cohorts``) the name stays
    the function's, as it always was."""

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and _HOMES.get(name) == f"{__name__}.{name}":
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


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
